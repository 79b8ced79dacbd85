"""Sales forecast: the units each item will sell on each of the next 28 days, with a 90% interval.

One global LightGBM learns, over every item and weekly origin, the units an item sells in each of
the four weeks after the origin, from ``forecast_v1`` as of the origin (``item_demand``: recent
units, sale days, promotions, price against base and its change, the category's units;
``item_stats`` and ``item_content``: popularity, ratings, age and what the item is). A week's
units are spread over its days by the category's weekday profile, and the interval is a negative
binomial's around each day's forecast, its dispersion chosen on validation to cover 90%.
Categories are the sums of their items (bottom-up, so the two levels always agree).

Judged with rolling origins on the latest weeks (``training.sales``), day by day: WAPE, MASE and
interval coverage per item against statsforecast's seasonal naive, exponential smoothing and
Croston; per category against the same and, on the simulated shop, against the oracle, the
simulator's own expected demand (``truth.category_days``), with the skill of the model's WAPE.

The latest forecast of every item is written as the ``item_forecast`` view, served as
``POST /forecast``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Annotated

import lightgbm as lgb
import numpy as np
import polars as pl
from pydantic import BaseModel, Field
from scipy import stats

from feature_repo.definitions import names
from shopml.matrix import FeatureLayout
from shopml.model_store import save_boosters
from shopml.serving import Endpoint, Id, OnlineReader, Request, SavedModel
from shopml.settings import Settings
from shopml.warehouse.database import connect

from ..boosting import BoostingConfig, lgb_params
from ..datasets import point_in_time_dataset
from ..embeddings import write_atomically
from ..evaluation import Evaluation, shap_importance
from ..forecast_baselines import CROSTON, ETS, SEASONAL_NAIVE, baseline_forecasts
from ..kinds import Tabled
from ..metrics.regression import interval_coverage, mean_mase, mean_rmsse, seasonal_scales, wape
from ..report import bar_chart, line_chart
from ..sales import (WEEK, SalesPanel, daily_forecast, forecast_origins, load_sales_panel, weekday_shares,
                     weekly_targets)
from ..task import task_labels

log = logging.getLogger(__name__)

MODEL, ORACLE = "model", "oracle"
ITEMS, CATEGORIES = "items: daily units", "categories: daily units (sums of items)"
WEEK_AHEAD, UNITS, ORIGIN = "week_ahead", "units", "origin"
OBJECTIVES = ("poisson", "tweedie")
DISPERSIONS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 1e6)    # negative binomial size; 1e6: Poisson
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


@dataclass
class ForecastData:
    panel: SalesPanel
    origins: dict[str, list[int]]
    rows: pl.DataFrame                # one row per (item on sale, origin): the features as of the origin
    layout: FeatureLayout

    def split(self, name: str) -> pl.DataFrame:
        return self.rows.filter(pl.col(ORIGIN).is_in(self.origins[name]))


@dataclass
class ForecastModel:
    booster: lgb.Booster              # refitted on every origin before the test period
    chosen_by: lgb.Booster            # the fit whose validation forecasts made the choices
    objective: str


def origin_rows(panel: SalesPanel, origins: list[int]) -> pl.DataFrame:
    """The entity rows of the items on sale at each origin, stamped at the origin's midnight."""
    frames = [pl.DataFrame({names.ITEM_ID: panel.item_ids[panel.on_sale(t)], ORIGIN: t})
              .with_columns(pl.lit(panel.midnight(t)).alias(names.EVENT_TIMESTAMP)) for t in origins]
    return pl.concat(frames)


def weekly_rows(data: ForecastData, frame: pl.DataFrame, weeks: int) -> tuple[pl.DataFrame, np.ndarray]:
    """Each row once per week ahead (``week_ahead`` 1..weeks), with the week's units sold."""
    index = np.searchsorted(data.panel.item_ids, frame[names.ITEM_ID].to_numpy())
    targets = np.zeros((frame.height, weeks))
    for t in frame[ORIGIN].unique().to_list():
        at = (frame[ORIGIN] == t).to_numpy()
        targets[at] = weekly_targets(data.panel, t, weeks)[index[at]]
    long = pl.concat([frame.with_columns(pl.lit(float(w + 1)).alias(WEEK_AHEAD)) for w in range(weeks)])
    return long, targets.T.reshape(-1)


def feature_layout(rows: pl.DataFrame) -> FeatureLayout:
    layout = FeatureLayout.from_training(rows)
    return FeatureLayout(numeric=(*layout.numeric, WEEK_AHEAD), categorical=layout.categorical)


def predict_weekly(booster: lgb.Booster, layout: FeatureLayout, frame: pl.DataFrame, weeks: int) -> np.ndarray:
    """(rows, weeks) units per week ahead."""
    long = pl.concat([frame.with_columns(pl.lit(float(w + 1)).alias(WEEK_AHEAD)) for w in range(weeks)])
    return np.clip(booster.predict(layout.matrix(long)), 0, None).reshape(weeks, frame.height).T


def nb_interval(mean: np.ndarray, size: float, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The central ``level`` interval of a negative binomial with this mean and size (variance
    mean + mean^2 / size): integer unit counts."""
    mean = np.maximum(mean, 1e-9)
    p = size / (size + mean)
    tail = (1 - level) / 2
    return stats.nbinom.ppf(tail, size, p), stats.nbinom.ppf(1 - tail, size, p)


@dataclass
class OriginForecast:
    """Daily forecasts of one origin: (items on sale, horizon) arrays and the items' rows."""
    items: np.ndarray                 # rows of the panel
    mean: np.ndarray
    actual: np.ndarray


def daily_forecasts(data: ForecastData, booster: lgb.Booster, split: str, config: ForecastConfig,
                    shares_until: int) -> list[OriginForecast]:
    shares = weekday_shares(data.panel, shares_until)
    out = []
    for t in data.origins[split]:
        frame = data.rows.filter(pl.col(ORIGIN) == t)
        items = np.searchsorted(data.panel.item_ids, frame[names.ITEM_ID].to_numpy())
        weekly = predict_weekly(booster, data.layout, frame, config.weeks)
        mean = daily_forecast(weekly, data.panel.categories[items], shares, data.panel.day(t).weekday(),
                              config.horizon_days)
        out.append(OriginForecast(items, mean, data.panel.units[items, t:t + config.horizon_days]))
    return out


def choose_dispersion(forecasts: list[OriginForecast], level: float) -> float:
    """The narrowest negative binomial (largest size) whose validation coverage reaches ``level``."""
    mean = np.concatenate([f.mean.ravel() for f in forecasts])
    actual = np.concatenate([f.actual.ravel() for f in forecasts])
    for size in sorted(DISPERSIONS, reverse=True):
        if interval_coverage(actual, *nb_interval(mean, size, level)) >= level:
            return size
    return min(DISPERSIONS)


def fit_weekly(config: ForecastConfig, data: ForecastData, objective: str) -> lgb.Booster:
    """Fit on the training origins, stopping early on the validation origins."""
    train, y_train = weekly_rows(data, data.split("train"), config.weeks)
    valid, y_valid = weekly_rows(data, data.split("validation"), config.weeks)
    params = lgb_params(config, objective=objective)
    train_set = lgb.Dataset(data.layout.matrix(train), y_train)
    valid_set = lgb.Dataset(data.layout.matrix(valid), y_valid, reference=train_set)
    return lgb.train(params, train_set, num_boost_round=config.max_rounds, valid_sets=[valid_set],
                     callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)])


def validation_wape(config: ForecastConfig, data: ForecastData, booster: lgb.Booster) -> float:
    valid, y_valid = weekly_rows(data, data.split("validation"), config.weeks)
    return wape(y_valid, np.clip(booster.predict(data.layout.matrix(valid)), 0, None))


def category_sums(panel: SalesPanel, items: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Category names and the (categories, horizon) sums of ``values`` over their items."""
    names_, group = np.unique(panel.categories, return_inverse=True)
    sums = np.zeros((len(names_), values.shape[1]))
    np.add.at(sums, group[items], values)
    return names_, sums


def oracle_demand(settings: Settings, panel: SalesPanel, categories: np.ndarray, origin: int,
                  horizon: int) -> np.ndarray | None:
    """(categories, horizon): the simulator's expected units (None without that truth)."""
    with connect(settings.warehouse_path) as con:
        if not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'truth' "
                           "AND table_name = 'category_days'").fetchall()[0][0]:
            return None
        found = con.execute("""SELECT category, datediff('day', ?::DATE, day) AS h, expected_units
                               FROM truth.category_days WHERE day >= ?::DATE AND day < ?::DATE""",
                            [panel.day(origin), panel.day(origin), panel.day(origin + horizon)]).fetchnumpy()
    out = np.zeros((len(categories), horizon))
    rows = np.searchsorted(categories, found["category"].astype(object))
    out[rows, found["h"]] = found["expected_units"]
    return out


def _table(actual: np.ndarray, forecasts: dict[str, tuple], history: list[np.ndarray]) -> dict[str, dict[str, float]]:
    """Per system: RMSSE, MASE, WAPE, bias and, where it has an interval, its coverage. Each
    row of ``actual`` is scaled by its series' ``history`` (rows of (history, starts) pairs)."""
    scales = np.concatenate([seasonal_scales(h, s, WEEK) for h, s in history])
    squared = np.concatenate([seasonal_scales(h, s, WEEK, power=2) for h, s in history])
    table = {}
    for name, (mean, lower, upper) in forecasts.items():
        row = {"rmsse": mean_rmsse(actual, mean, squared), "mase": mean_mase(actual, mean, scales),
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
    top = float(np.nanmax([c.max() for c in curves.values()])) * 1.1
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
    evaluation = Tabled("forecast", ITEMS, model=MODEL, reference=SEASONAL_NAIVE, metric="rmsse", label="item RMSSE")
    endpoint = Endpoint(
        path="/forecast", request=ForecastRequest, response=ForecastResponse, models=("forecast",),
        start=ForecastAnswers, example=lambda shop: {"item_ids": [shop.bought_item, 10**12], "horizon": 7},
        doc="Per item, the expected units on each day of the horizon, with a prediction interval.")

    def build_dataset(self, config: ForecastConfig, settings: Settings) -> ForecastData:
        panel = load_sales_panel(settings.warehouse_path)
        origins = forecast_origins(panel.days, config.horizon_days, config.validation_origins, config.test_origins,
                                   config.min_history_days, config.train_every_days)
        every = sorted(set().union(*origins.values()))
        rows = point_in_time_dataset(origin_rows(panel, every), self.feature_service, settings)
        log.info("forecast: %d items x %d origins, %d rows", len(panel.item_ids), len(every), rows.height)
        return ForecastData(panel=panel, origins=origins, rows=rows,
                            layout=feature_layout(rows.filter(pl.col(ORIGIN).is_in(origins["train"]))))

    def train(self, config: ForecastConfig, data: ForecastData) -> ForecastModel:
        """Fit each objective on the training origins (early stopping on validation), keep the
        better validation WAPE, and refit it on every origin before the test period with the
        rounds validation chose."""
        candidates = OBJECTIVES if config.objective == "auto" else (config.objective,)
        fits = {objective: fit_weekly(config, data, objective) for objective in candidates}
        scores = {objective: validation_wape(config, data, booster) for objective, booster in fits.items()}
        objective = min(scores, key=scores.get)
        log.info("forecast: validation WAPE of the weekly units %s; refitting %s",
                 {k: round(v, 4) for k, v in scores.items()}, objective)
        refit, y_refit = weekly_rows(data, data.split("refit"), config.weeks)
        booster = lgb.train(lgb_params(config, objective=objective), lgb.Dataset(data.layout.matrix(refit), y_refit),
                            num_boost_round=max(fits[objective].best_iteration, 1))
        return ForecastModel(booster=booster, chosen_by=fits[objective], objective=objective)

    def choose(self, config: ForecastConfig, model: ForecastModel, data: ForecastData,
               settings: Settings) -> ForecastConfig:
        dispersion = config.dispersion
        if dispersion is None:
            validation = daily_forecasts(data, model.chosen_by, "validation", config, data.origins["validation"][0])
            dispersion = choose_dispersion(validation, config.interval)
        return replace(config, objective=model.objective, dispersion=dispersion)

    def evaluate(self, config: ForecastConfig, model: ForecastModel, data: ForecastData,
                 settings: Settings) -> Evaluation:
        panel, horizon = data.panel, config.horizon_days
        forecasts = daily_forecasts(data, model.booster, "test", config, data.origins["test"][0])
        item_parts, category_parts, actual, histories, category_actual, category_histories = [], [], [], [], [], []
        for t, f in zip(data.origins["test"], forecasts):
            history = panel.units[f.items, :t]
            systems = {MODEL: (f.mean, *nb_interval(f.mean, config.dispersion, config.interval)),
                       **baseline_forecasts(history, panel.launch[f.items], panel.first_day, horizon, config.interval,
                                            config.ets_model)}
            item_parts.append(systems)
            actual.append(f.actual)
            histories.append((history, np.clip(panel.launch[f.items], 0, None)))
            categories, sums = panel.category_units()
            own = baseline_forecasts(sums[:, :t], np.zeros(len(categories), dtype=int), panel.first_day, horizon,
                                     config.interval, "ZNZ")
            by_category = {MODEL: (category_sums(panel, f.items, f.mean)[1], None, None),
                           **{name: (mean, None, None) for name, (mean, _, _) in own.items()}}
            oracle = oracle_demand(settings, panel, categories, t, horizon)
            if oracle is not None:
                by_category[ORACLE] = (oracle, None, None)
            category_parts.append(by_category)
            category_actual.append(sums[:, t:t + horizon])
            category_histories.append((sums[:, :t], np.zeros(len(categories), dtype=int)))
        items, actual = _stack(item_parts), np.vstack(actual)
        by_category, category_actual = _stack(category_parts), np.vstack(category_actual)
        tables = {ITEMS: _table(actual, items, histories),
                  CATEGORIES: _table(category_actual, by_category, category_histories)}
        if ORACLE in tables[CATEGORIES]:          # skill: the share of the oracle's lead over seasonal naive
            rows = tables[CATEGORIES]
            gap = rows[SEASONAL_NAIVE]["wape"] - rows[ORACLE]["wape"]
            for row in rows.values():
                row["wape_skill"] = (rows[SEASONAL_NAIVE]["wape"] - row["wape"]) / gap if gap > 0 else float("nan")
        tables["items: WAPE by week ahead"] = {
            name: {f"week_{w + 1}": wape(actual[:, w * WEEK:(w + 1) * WEEK], mean[:, w * WEEK:(w + 1) * WEEK])
                   for w in range(config.weeks)} for name, (mean, _, _) in items.items()}
        test_rows, _ = weekly_rows(data, data.split("test"), config.weeks)
        importance = shap_importance(model.booster, data.layout.matrix(test_rows), top=10)
        largest = int(np.argmax(category_actual[-len(categories):].sum(axis=1)))
        latest = category_parts[-1]
        figures = [_by_day_chart(actual, items, horizon),
                   _category_chart(str(categories[largest]), category_actual[-len(categories):][largest],
                                   {name: latest[name][0][largest] for name in (MODEL, ORACLE, SEASONAL_NAIVE)
                                    if name in latest}, horizon),
                   bar_chart("mean |SHAP| of the weekly model's features (test rows)", importance)]
        return Evaluation(heads={}, tables=tables, figures=figures)

    def save(self, config: ForecastConfig, model: ForecastModel, data: ForecastData, metrics: dict,
             settings: Settings) -> str:
        panel = data.panel
        metadata = {"config": config.__dict__, "metrics": metrics, "features": data.layout.columns,
                    "categories": {c: list(v) for c, v in data.layout.categorical.items()},
                    "origins": {s: [panel.day(t).isoformat() for t in ts] for s, ts in data.origins.items()},
                    "weekday_shares": weekday_shares(panel, panel.days)}
        tag = save_boosters(self.name, {"weekly": model.booster}, "weekly", task_labels(self), metadata, settings)
        written = write_latest_forecast(model.booster, data, config, settings)
        log.info("forecast: the latest forecast of %d items written to %s", written.height, settings.features_dir)
        return tag


def write_latest_forecast(booster: lgb.Booster, data: ForecastData, config: ForecastConfig,
                          settings: Settings) -> pl.DataFrame:
    """The ``item_forecast`` view's table: every item on sale at the day after the data ends,
    its daily forecast and interval from that day; written atomically, returned."""
    panel, origin = data.panel, data.panel.days
    frame = point_in_time_dataset(origin_rows(panel, [origin]), names.FORECAST_V1, settings)
    items = np.searchsorted(panel.item_ids, frame[names.ITEM_ID].to_numpy())
    mean = daily_forecast(predict_weekly(booster, data.layout, frame, config.weeks), panel.categories[items],
                          weekday_shares(panel, origin), panel.day(origin).weekday(), config.horizon_days)
    lower, upper = nb_interval(mean, config.dispersion, config.interval)

    def arrays(values: np.ndarray) -> pl.Series:
        return pl.Series(values.astype(np.float32), dtype=pl.Array(pl.Float32, values.shape[1])).arr.to_list()

    table = frame.select(names.ITEM_ID, names.EVENT_TIMESTAMP).with_columns(
        pl.lit(panel.day(origin).isoformat()).alias("forecast_origin"), forecast_units=arrays(mean),
        forecast_lower=arrays(lower), forecast_upper=arrays(upper))
    write_atomically(table, settings.features_dir / f"{names.ITEM_FORECAST}.parquet")
    return table
