"""Sales forecast: the units each item will sell on each of the next 28 days, with a 90% interval.

One global LightGBM learns, over every item and weekly origin, the units an item sells in each of
the four weeks after the origin, from ``forecast_v1`` as of the origin (``item_demand``: recent
and long-run units, sale days, promotions, price against base and its change, the category's
units; ``item_stats`` and ``item_content``: popularity, ratings, age and what the item is). A
week's units are spread over its days by the category's weekday profile, and the interval is a
negative binomial's around each day's forecast (``training.sales_model``: what is chosen on
validation, and how). Categories are the sums of their items (bottom-up, so the two levels
always agree).

Judged with rolling origins on the latest weeks (``training.sales``), day by day: WRMSSE (the M5
competition's measure, each item weighed by its revenue of the 28 days before the origin), the
unweighted RMSSE, MASE, WAPE and interval coverage per item against statsforecast's seasonal
naive, exponential smoothing and Croston; per category against the same fitted to the category's
own series and, on the simulated shop, against the oracle, the simulator's own expected demand
(``truth.category_days``), with each system's skill on WAPE.

The latest forecast of every item is written as the ``item_forecast`` view, served as
``POST /forecast``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Annotated

import numpy as np
import polars as pl
from pydantic import BaseModel, Field

from feature_repo.definitions import names
from shopml.model_store import save_boosters
from shopml.serving import Endpoint, Id, OnlineReader, Request, SavedModel
from shopml.settings import Settings
from shopml.warehouse.database import connect, has_truth

from ..boosting import BoostingConfig
from ..datasets import point_in_time_dataset
from ..embeddings import write_atomically
from ..evaluation import Evaluation, shap_importance
from ..forecast_baselines import SEASONAL_NAIVE, baseline_forecasts
from ..kinds import Tabled
from ..metrics.regression import interval_coverage, mean_mase, mean_rmsse, seasonal_scales, wape
from ..report import bar_chart, line_chart
from ..sales import WEEK, SalesPanel, forecast_origins, load_sales_panel, weekday_shares
from ..sales_model import (OBJECTIVES, SalesData, SalesModel, choose_dispersion, daily_forecasts, fit_sales_model,
                           forecast_origin, nb_interval, origin_rows)
from ..task import task_labels

log = logging.getLogger(__name__)

MODEL, ORACLE = "model", "oracle"
ITEMS, CATEGORIES = "items: daily units", "categories: daily units (sums of items)"
CHOICE = "validation WAPE of the weekly units (the choice)"
MAX_HORIZON_DAYS = 28
MAX_ITEMS = 1000


@dataclass(frozen=True)
class ForecastConfig(BoostingConfig):
    horizon_days: int = 28            # days forecast from each origin, whole weeks, at most 28
    validation_origins: int = 4       # weekly origins; their horizons end by the first test origin
    test_origins: int = 4             # the latest weekly origins
    min_history_days: int = 28        # days of sales before a training origin
    train_every_days: int = 7         # days between training origins (the evaluated ones are a week apart)
    objective: str = "auto"           # poisson or tweedie; auto: the better validation WAPE
    long_run_features: bool | None = None   # the item's long-run sales as features; None: chosen on validation
    interval: float = 0.9             # the prediction interval's nominal coverage
    dispersion: float | None = None   # the daily units' negative binomial size; None: chosen on validation
    ets_model: str = "ANN"            # statsforecast's ETS model for the item baseline (ZZZ: automatic)
    min_data_in_leaf: int = 50

    def __post_init__(self):
        if not (WEEK <= self.horizon_days <= MAX_HORIZON_DAYS and self.horizon_days % WEEK == 0):
            raise ValueError(f"horizon_days must be 7, 14, 21 or 28, got {self.horizon_days}")
        if self.objective not in ("auto", *OBJECTIVES):
            raise ValueError(f"objective must be auto or one of {OBJECTIVES}, got {self.objective!r}")
        if not 0 < self.interval < 1:
            raise ValueError(f"interval must lie in (0, 1), got {self.interval}")

    @property
    def weeks(self) -> int:
        return self.horizon_days // WEEK


def oracle_demand(settings: Settings, panel: SalesPanel, categories: np.ndarray, origin: int,
                  horizon: int) -> np.ndarray | None:
    """(categories, horizon): the simulator's expected units (None without that truth)."""
    with connect(settings.warehouse_path) as con:
        if not has_truth(con):
            return None
        found = con.execute("""SELECT category, datediff('day', ?::DATE, day) AS h, expected_units
                               FROM truth.category_days WHERE day >= ?::DATE AND day < ?::DATE""",
                            [panel.day(origin), panel.day(origin), panel.day(origin + horizon)]).fetchnumpy()
    out = np.zeros((len(categories), horizon))
    rows = np.searchsorted(categories, found["category"].astype(object))
    out[rows, found["h"]] = found["expected_units"]
    return out


@dataclass
class Histories:
    """What scales and weighs each row of the actuals: its series before the origin, from the
    series' start, and its revenue over the 28 days before the origin (M5's weights)."""
    units: list[np.ndarray]
    starts: list[np.ndarray]
    revenue: list[np.ndarray]

    def add(self, units: np.ndarray, starts: np.ndarray, revenue: np.ndarray) -> None:
        self.units.append(units)
        self.starts.append(starts)
        self.revenue.append(revenue[:, -4 * WEEK:].sum(axis=1))

    def scales(self, power: int) -> np.ndarray:
        return np.concatenate([seasonal_scales(u, s, WEEK, power) for u, s in zip(self.units, self.starts)])


def _table(actual: np.ndarray, forecasts: dict[str, tuple], history: Histories) -> dict[str, dict[str, float]]:
    """Per system: WRMSSE (M5's measure), RMSSE, MASE, WAPE, bias and, where it has an interval,
    its coverage."""
    scales, squared, weights = history.scales(1), history.scales(2), np.concatenate(history.revenue)
    table = {}
    for name, (mean, lower, upper) in forecasts.items():
        row = {"wrmsse": mean_rmsse(actual, mean, squared, weights), "rmsse": mean_rmsse(actual, mean, squared),
               "mase": mean_mase(actual, mean, scales),
               "wape": wape(actual, mean), "bias": float(mean.sum() / max(actual.sum(), 1e-9) - 1)}
        row["coverage"] = interval_coverage(actual, lower, upper) if lower is not None else float("nan")
        table[name] = row
    return table


def _stack(parts: list[dict[str, tuple]]) -> dict[str, tuple]:
    """The origins' forecasts of each system, stacked row-wise."""
    return {name: tuple(None if parts[0][name][j] is None else np.vstack([p[name][j] for p in parts])
                        for j in range(3)) for name in parts[0]}


def _by_day_chart(actual: np.ndarray, forecasts: dict[str, tuple], horizon: int) -> str:
    curves = {name: np.array([wape(actual[:, h], mean[:, h]) for h in range(horizon)])
              for name, (mean, _, _) in forecasts.items()}
    top = float(np.nanmax([np.nanmax(c) for c in curves.values()])) * 1.1
    x = (np.arange(horizon) + 1) / horizon
    return line_chart(f"WAPE of the items' daily units, by day ahead (1 to {horizon})",
                      {name: (x, c) for name, c in curves.items()}, "day ahead", "WAPE", y_max=top, markers=True)


def _category_chart(category: str, actual: np.ndarray, forecasts: dict[str, np.ndarray], horizon: int) -> str:
    top = float(max(actual.max(), *(f.max() for f in forecasts.values()))) * 1.15
    x = (np.arange(horizon) + 1) / horizon
    return line_chart(f"{category}: daily units over the latest test horizon", {
        "actual": (x, actual), **{name: (x, f) for name, f in forecasts.items()}}, "day ahead", "units", y_max=top)


class ForecastRequest(Request):
    item_ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_ITEMS)]
    horizon: Annotated[int, Field(ge=1, le=MAX_HORIZON_DAYS)] = 7      # days from the forecast's origin


class ItemForecast(BaseModel):
    item_id: int
    known_item: bool                  # false: no forecast is held for the item (the lists are empty)
    days: list[str]                   # ISO dates, from the forecast's origin
    units: list[float]                # expected units per day
    lower: list[float]                # the interval's bounds per day (whole units)
    upper: list[float]
    total_units: float | None         # the expected units over the horizon


class ForecastResponse(BaseModel):
    model: str
    origin: str | None                # the day the forecast starts (the day after the data ends)
    horizon: int                      # days answered: the request's, at most the model's horizon
    interval: float                   # the nominal coverage of lower..upper
    forecasts: list[ItemForecast]


FORECAST_COLUMNS = {field: f"{names.ITEM_FORECAST}__{field}" for field in names.FORECAST_FEATURES}


class ForecastAnswers:
    """The latest forecast of each item, read from the ``item_forecast`` view."""

    def __init__(self, models: dict[str, SavedModel], online: OnlineReader):
        saved = models["forecast"]
        self.tag, self.online = saved.tag, online
        self.horizon, self.interval = saved.metadata["config"]["horizon_days"], saved.metadata["config"]["interval"]

    def answer(self, request: ForecastRequest) -> ForecastResponse:
        read = self.online.read(names.ITEM_FORECAST_V1, {names.ITEM_ID: request.item_ids})
        columns = {field: read[column] for field, column in FORECAST_COLUMNS.items()}
        horizon = min(request.horizon, self.horizon)
        origins = [o for o in columns["forecast_origin"] if o is not None]
        forecasts = []
        for i, item in enumerate(request.item_ids):
            origin, units = columns["forecast_origin"][i], columns["forecast_units"][i]
            if origin is None or units is None:
                forecasts.append(ItemForecast(item_id=item, known_item=False, days=[], units=[], lower=[], upper=[],
                                              total_units=None))
                continue
            start = date.fromisoformat(origin)
            forecasts.append(ItemForecast(
                item_id=item, known_item=True,
                days=[(start + timedelta(days=h)).isoformat() for h in range(horizon)],
                units=[round(float(u), 4) for u in units[:horizon]],
                lower=[float(u) for u in columns["forecast_lower"][i][:horizon]],
                upper=[float(u) for u in columns["forecast_upper"][i][:horizon]],
                total_units=round(float(sum(units[:horizon])), 4)))
        return ForecastResponse(model=self.tag, origin=max(origins) if origins else None, horizon=horizon,
                                interval=self.interval, forecasts=forecasts)


class ForecastTask:
    name = "forecast"
    question = "How many units will each item sell, day by day, over the next four weeks?"
    family = "demand"
    entity = "item"
    feature_service = names.FORECAST_V1
    config_type = ForecastConfig
    evaluation = Tabled("forecast", ITEMS, model=MODEL, reference=SEASONAL_NAIVE, metric="wrmsse", label="item WRMSSE")
    endpoint = Endpoint(
        path="/forecast", request=ForecastRequest, response=ForecastResponse, models=("forecast",),
        start=ForecastAnswers, example=lambda shop: {"item_ids": [shop.bought_item, 10**12], "horizon": 7},
        doc="Per item, the expected units on each day of the horizon, with a prediction interval.")

    def build_dataset(self, config: ForecastConfig, settings: Settings) -> SalesData:
        panel = load_sales_panel(settings.warehouse_path)
        origins = forecast_origins(panel.days, config.horizon_days, config.validation_origins, config.test_origins,
                                   config.min_history_days, config.train_every_days)
        every = sorted(set().union(*origins.values()))
        rows = point_in_time_dataset(origin_rows(panel, every), self.feature_service, settings)
        log.info("forecast: %d items x %d origins, %d rows", len(panel.item_ids), len(every), rows.height)
        return SalesData(panel=panel, origins=origins, rows=rows)

    def train(self, config: ForecastConfig, data: SalesData) -> SalesModel:
        return fit_sales_model(config, data, config.weeks,
                               OBJECTIVES if config.objective == "auto" else (config.objective,),
                               (False, True) if config.long_run_features is None else (config.long_run_features,))

    def choose(self, config: ForecastConfig, model: SalesModel, data: SalesData, settings: Settings) -> ForecastConfig:
        dispersion = config.dispersion
        if dispersion is None:
            dispersion = choose_dispersion(daily_forecasts(data, model.chosen_by, "validation", config.horizon_days),
                                           config.interval)
        return replace(config, objective=model.objective, long_run_features=model.long_run, dispersion=dispersion)

    def evaluate(self, config: ForecastConfig, model: SalesModel, data: SalesData, settings: Settings) -> Evaluation:
        panel, horizon = data.panel, config.horizon_days
        forecasts = daily_forecasts(data, model.final, "test", horizon)
        item_parts, category_parts, actual, category_actual = [], [], [], []
        histories, category_histories = Histories([], [], []), Histories([], [], [])
        (categories, sums), (_, category_revenue) = panel.category_sums(panel.units), panel.category_sums(panel.revenue)
        for t, f in zip(data.origins["test"], forecasts):
            history = panel.units[f.items, :t]
            systems = {MODEL: (f.mean, *nb_interval(f.mean, config.dispersion, config.interval)),
                       **baseline_forecasts(history, panel.launch[f.items], panel.first_day, horizon, config.interval,
                                            config.ets_model)}
            item_parts.append(systems)
            actual.append(f.actual)
            histories.add(history, np.clip(panel.launch[f.items], 0, None), panel.revenue[f.items, :t])
            own = baseline_forecasts(sums[:, :t], np.zeros(len(categories), dtype=int), panel.first_day, horizon,
                                     config.interval, "ZNZ")
            by_category = {MODEL: (panel.category_sums(f.mean, f.items)[1], None, None),
                           **{name: (mean, None, None) for name, (mean, _, _) in own.items()}}
            oracle = oracle_demand(settings, panel, categories, t, horizon)
            if oracle is not None:
                by_category[ORACLE] = (oracle, None, None)
            category_parts.append(by_category)
            category_actual.append(sums[:, t:t + horizon])
            category_histories.add(sums[:, :t], np.zeros(len(categories), dtype=int), category_revenue[:, :t])
        items, actual = _stack(item_parts), np.vstack(actual)
        by_category, category_actual = _stack(category_parts), np.vstack(category_actual)
        tables = {ITEMS: _table(actual, items, histories),
                  CATEGORIES: _table(category_actual, by_category, category_histories)}
        if ORACLE in tables[CATEGORIES]:          # skill: the share of the oracle's lead over seasonal naive
            rows = tables[CATEGORIES]
            gap = rows[SEASONAL_NAIVE]["wape"] - rows[ORACLE]["wape"]
            for row in rows.values():
                row["wape_skill"] = (rows[SEASONAL_NAIVE]["wape"] - row["wape"]) / gap if gap > 0 else float("nan")
        tables[CHOICE] = {candidate: {"wape": value} for candidate, value in model.validation_wape.items()}
        tables["items: WAPE by week ahead"] = {
            name: {f"week_{w + 1}": wape(actual[:, w * WEEK:(w + 1) * WEEK], mean[:, w * WEEK:(w + 1) * WEEK])
                   for w in range(config.weeks)} for name, (mean, _, _) in items.items()}
        test_rows, _ = data.weekly("test", config.weeks)
        importance = shap_importance(model.final.booster, model.final.layout.matrix(test_rows), top=10)
        latest, latest_actual = category_parts[-1], category_actual[-len(categories):]
        largest = int(np.argmax(latest_actual.sum(axis=1)))
        figures = [_by_day_chart(actual, items, horizon),
                   _category_chart(str(categories[largest]), latest_actual[largest],
                                   {name: latest[name][0][largest] for name in (MODEL, ORACLE, SEASONAL_NAIVE)
                                    if name in latest}, horizon),
                   bar_chart("mean |SHAP| of the weekly model's features (test rows)", importance)]
        return Evaluation(heads={}, tables=tables, figures=figures)

    def save(self, config: ForecastConfig, model: SalesModel, data: SalesData, metrics: dict,
             settings: Settings) -> str:
        panel, layout = data.panel, model.final.layout
        metadata = {"config": config.__dict__, "metrics": metrics, "features": layout.columns,
                    "categories": {c: list(v) for c, v in layout.categorical.items()},
                    "origins": {s: [panel.day(t).isoformat() for t in ts] for s, ts in data.origins.items()},
                    "weekday_shares": weekday_shares(panel, panel.days)}
        tag = save_boosters(self.name, {"weekly": model.final.booster}, "weekly", task_labels(self), metadata, settings)
        written = write_latest_forecast(model, data.panel, config, settings)
        log.info("forecast: the latest forecast of %d items written to %s", written.height, settings.features_dir)
        return tag


def write_latest_forecast(model: SalesModel, panel: SalesPanel, config: ForecastConfig,
                          settings: Settings) -> pl.DataFrame:
    """The ``item_forecast`` view's table: every item on sale at the day after the data ends,
    its daily forecast and interval from that day; written atomically, returned."""
    origin = panel.days
    frame = point_in_time_dataset(origin_rows(panel, [origin]), names.FORECAST_V1, settings)
    _, mean = forecast_origin(panel, model.final, frame, origin, weekday_shares(panel, origin), config.horizon_days)
    lower, upper = nb_interval(mean, config.dispersion, config.interval)

    def arrays(values: np.ndarray) -> pl.Series:
        return pl.Series(values.astype(np.float32), dtype=pl.Array(pl.Float32, values.shape[1])).arr.to_list()

    table = frame.select(names.ITEM_ID, names.EVENT_TIMESTAMP).with_columns(
        pl.lit(panel.day(origin).isoformat()).alias(names.FORECAST_FEATURES[0]), forecast_units=arrays(mean),
        forecast_lower=arrays(lower), forecast_upper=arrays(upper))
    write_atomically(table, settings.features_dir / f"{names.ITEM_FORECAST}.parquet")
    return table
