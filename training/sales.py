"""Daily unit sales per item, as the forecast task reads them from the warehouse: the panel of
units (items x days), the forecast origins of each split, purged, and the weekday profile that
splits a weekly forecast into days.

An origin is a midnight: a forecast made there knows the days before it and forecasts the days
from it on. Origins lie on a weekly grid ending at the latest origin whose horizon the warehouse
still covers. Test origins are the latest ones; a validation origin's horizon ends by the first
test origin, and a training origin's by the first validation origin (../shared/EVALUATION.md).
Once the choices are made on validation, the model is refitted on every origin whose horizon
ends by the first test origin: no label it learns from reads the test period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import numpy as np

from shopml.warehouse.database import connect

NO_CATEGORY = "(all items)"       # the group of items without a category (imported catalogues)
WEEK = 7
WEEKDAY_PRIOR_UNITS = 100.0       # a category's weekday profile leans on the shop's by this many units

ITEMS_SQL = """
SELECT item_id, coalesce(category, ?) AS category, datediff('day', ?::DATE, CAST(launch_ts AS DATE)) AS launch
FROM items ORDER BY item_id
"""
DAILY_UNITS_SQL = """
SELECT item_id, datediff('day', ?::DATE, CAST(ts AS DATE)) AS day, sum(quantity) AS units,
       sum(quantity * coalesce(price, 0)) AS revenue
FROM events WHERE event_type = 'purchase' GROUP BY ALL
"""


@dataclass(frozen=True)
class SalesPanel:
    item_ids: np.ndarray        # int64, ascending
    categories: np.ndarray      # per item (NO_CATEGORY where the catalogue has none)
    first_day: date             # the day of column 0: the first day with an event
    units: np.ndarray           # (items, days): units sold per day
    revenue: np.ndarray         # (items, days): what they sold for
    launch: np.ndarray          # per item, the column of its launch day (negative: launched before)

    @property
    def days(self) -> int:
        return self.units.shape[1]

    def day(self, column: int) -> date:
        return self.first_day + timedelta(days=int(column))

    def midnight(self, column: int) -> datetime:
        return datetime.combine(self.day(column), time.min, tzinfo=timezone.utc)

    def weekdays(self, start: int, count: int) -> np.ndarray:
        """Monday = 0 of the ``count`` days from column ``start``."""
        return (self.day(start).weekday() + np.arange(count)) % WEEK

    def on_sale(self, origin: int) -> np.ndarray:
        """The items launched before the origin."""
        return self.launch < origin

    def category_sums(self, values: np.ndarray, items: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Every category's name and the (categories, columns) sums of ``values`` (units,
        revenue, forecasts), whose rows are the panel's ``items`` (default: all of them)."""
        names, group = np.unique(self.categories, return_inverse=True)
        sums = np.zeros((len(names), values.shape[1]))
        np.add.at(sums, group if items is None else group[items], values)
        return names, sums


def load_sales_panel(warehouse: Path) -> SalesPanel:
    with connect(warehouse) as con:
        first, last = con.execute("SELECT min(ts), max(ts) FROM events").fetchall()[0]
        if first is None:
            raise ValueError("the warehouse has no events")
        first_day = first.astimezone(timezone.utc).date()
        items = con.execute(ITEMS_SQL, [NO_CATEGORY, first_day]).fetchnumpy()
        daily = con.execute(DAILY_UNITS_SQL, [first_day]).fetchnumpy()
    item_ids = np.asarray(items["item_id"], dtype=np.int64)
    units = np.zeros((len(item_ids), (last.astimezone(timezone.utc).date() - first_day).days + 1))
    revenue = np.zeros_like(units)
    cells = (np.searchsorted(item_ids, daily["item_id"]), daily["day"])
    np.add.at(units, cells, daily["units"])
    np.add.at(revenue, cells, daily["revenue"])
    return SalesPanel(item_ids=item_ids, categories=np.asarray(items["category"], dtype=object),
                      first_day=first_day, units=units, revenue=revenue, launch=np.asarray(items["launch"], dtype=np.int64))


def forecast_origins(days: int, horizon: int, validation: int, test: int, min_history: int,
                     train_every: int = WEEK) -> dict[str, list[int]]:
    """Origins (panel columns) per split: ``test`` the latest on a weekly grid whose horizon the
    panel covers, ``validation`` the latest on that grid whose horizon ends by the first test
    origin; ``train`` every ``train_every`` days with ``min_history`` days behind it whose
    horizon ends by the first validation origin, and ``refit`` likewise up to the first test
    origin."""
    latest = days - horizon

    def grid(end: int, step: int = WEEK) -> list[int]:
        newest = latest - step * -(-(latest - end) // step)
        return [t for t in range(newest, min_history - 1, -step)][::-1]

    tests = grid(latest)[-test:]
    validations = grid(tests[0] - horizon)[-validation:] if tests else []
    trains = grid(validations[0] - horizon, train_every) if validations else []
    if len(tests) < test or len(validations) < validation or not trains:
        raise ValueError(
            f"{days} days of sales cannot make {test} test and {validation} validation origins a week apart "
            f"with {horizon}-day horizons that do not overlap the next split, and training origins with "
            f"{min_history} days of history before them")
    return {"train": trains, "validation": validations, "test": tests,
            "refit": grid(tests[0] - horizon, train_every)}


def weekly_targets(panel: SalesPanel, origin: int, weeks: int) -> np.ndarray:
    """(items, weeks): the units each item sells in each week from the origin."""
    window = panel.units[:, origin:origin + weeks * WEEK]
    return window.reshape(len(panel.item_ids), weeks, WEEK).sum(axis=2)


def weekday_shares(panel: SalesPanel, end: int) -> dict[str, list[float]]:
    """Per category, the share of its units sold on each weekday (Monday first) over the days
    before column ``end``, drawn towards the whole shop's by WEEKDAY_PRIOR_UNITS."""
    names, sums = panel.category_sums(panel.units)
    weekday = panel.weekdays(0, end)
    by_weekday = np.stack([sums[:, :end][:, weekday == d].sum(axis=1) for d in range(WEEK)], axis=1)
    shop = by_weekday.sum(axis=0)
    shop = shop / shop.sum() if shop.sum() else np.full(WEEK, 1 / WEEK)
    shares = (by_weekday + WEEKDAY_PRIOR_UNITS * shop) / (by_weekday.sum(axis=1, keepdims=True) + WEEKDAY_PRIOR_UNITS)
    return {str(name): [float(s) for s in row] for name, row in zip(names, shares)}


def daily_forecast(weekly: np.ndarray, categories: np.ndarray, shares: dict[str, list[float]],
                   first_weekday: int, horizon: int) -> np.ndarray:
    """(items, horizon) daily units from (items, weeks) weekly units: each week's units spread
    over its days by the item's category's weekday shares (the shop's for an unseen category)."""
    shop = np.mean(list(shares.values()), axis=0)
    profile = np.stack([np.asarray(shares.get(str(c), shop)) for c in categories])     # (items, 7)
    weekday = (first_weekday + np.arange(horizon)) % WEEK
    return weekly[:, np.arange(horizon) // WEEK] * profile[:, weekday]
