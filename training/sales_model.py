"""The forecast's model: one global LightGBM over every (item, origin, week ahead), predicting the
units of that week from the item's features as of the origin; its weeks spread over days by the
weekday profile (``training.sales``), with a negative binomial interval around each day.

Two choices are made on the validation origins, by the WAPE of the weekly units: the objective
(Poisson or Tweedie) and whether the item's long-run features (``sale_days_total``,
``units_per_day_on_sale``) are on. They help a shop whose slow items sell again in bulk (Online
Retail) and hurt one whose demand drifts with its customers (the simulated shop, where people
leave): a shop's own validation weeks decide. The chosen fit is then refitted on every origin
before the test period with the rounds early stopping chose; the interval's dispersion is the
narrowest that covers the nominal share of the validation days."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import product

import lightgbm as lgb
import numpy as np
import polars as pl
from scipy import stats

from feature_repo.definitions import names
from shopml.matrix import FeatureLayout

from .boosting import BoostingConfig, lgb_params
from .metrics.regression import interval_coverage, wape
from .sales import WEEK, SalesPanel, daily_forecast, weekday_shares, weekly_targets

log = logging.getLogger(__name__)

WEEK_AHEAD, ORIGIN = "week_ahead", "origin"
OBJECTIVES = ("poisson", "tweedie")
LONG_RUN = tuple(f"{names.ITEM_DEMAND}__{f}" for f in ("sale_days_total", "units_per_day_on_sale"))
DISPERSIONS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 1e6)    # negative binomial size; 1e6: Poisson


@dataclass
class SalesData:
    panel: SalesPanel
    origins: dict[str, list[int]]
    rows: pl.DataFrame                # one row per (item on sale, origin): the features as of the origin

    def split(self, name: str) -> pl.DataFrame:
        return self.rows.filter(pl.col(ORIGIN).is_in(self.origins[name]))

    def weekly(self, split: str, weeks: int) -> tuple[pl.DataFrame, np.ndarray]:
        """The split's rows once per week ahead (``week_ahead`` 1..weeks), with each week's units."""
        frame = self.split(split)
        index = np.searchsorted(self.panel.item_ids, frame[names.ITEM_ID].to_numpy())
        targets = np.zeros((frame.height, weeks))
        for t in frame[ORIGIN].unique().to_list():
            at = (frame[ORIGIN] == t).to_numpy()
            targets[at] = weekly_targets(self.panel, t, weeks)[index[at]]
        return per_week(frame, weeks), targets.T.reshape(-1)


def origin_rows(panel: SalesPanel, origins: list[int]) -> pl.DataFrame:
    """The entity rows of the items on sale at each origin, stamped at the origin's midnight."""
    return pl.concat([pl.DataFrame({names.ITEM_ID: panel.item_ids[panel.on_sale(t)], ORIGIN: t})
                      .with_columns(pl.lit(panel.midnight(t)).alias(names.EVENT_TIMESTAMP)) for t in origins])


def per_week(frame: pl.DataFrame, weeks: int) -> pl.DataFrame:
    """``frame`` once per week ahead, week-major (row w * height + i is row i, week w + 1)."""
    return pl.concat([frame.with_columns(pl.lit(float(w + 1)).alias(WEEK_AHEAD)) for w in range(weeks)])


def feature_layout(rows: pl.DataFrame, long_run: bool = True) -> FeatureLayout:
    layout = FeatureLayout.from_training(rows)
    numeric = tuple(c for c in layout.numeric if long_run or c not in LONG_RUN)
    return FeatureLayout(numeric=(*numeric, WEEK_AHEAD), categorical=layout.categorical)


@dataclass
class WeeklyFit:
    booster: lgb.Booster
    layout: FeatureLayout

    def predict(self, frame: pl.DataFrame, weeks: int) -> np.ndarray:
        """(rows, weeks) units per week ahead."""
        units = self.booster.predict(self.layout.matrix(per_week(frame, weeks)))
        return np.clip(units, 0, None).reshape(weeks, frame.height).T


@dataclass
class SalesModel:
    final: WeeklyFit                  # refitted on every origin before the test period
    chosen_by: WeeklyFit              # the fit whose validation forecasts made the choices
    objective: str
    long_run: bool
    validation_wape: dict[str, float]  # every candidate's, by "objective" or "objective + long-run"


def _fit(config: BoostingConfig, data: SalesData, weeks: int, objective: str, layout: FeatureLayout) -> WeeklyFit:
    """Fit on the training origins, stopping early on the validation origins."""
    (train, y_train), (valid, y_valid) = data.weekly("train", weeks), data.weekly("validation", weeks)
    train_set = lgb.Dataset(layout.matrix(train), y_train)
    valid_set = lgb.Dataset(layout.matrix(valid), y_valid, reference=train_set)
    return WeeklyFit(lgb.train(lgb_params(config, objective=objective), train_set, num_boost_round=config.max_rounds,
                               valid_sets=[valid_set],
                               callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)]), layout)


def fit_sales_model(config: BoostingConfig, data: SalesData, weeks: int, objectives: tuple[str, ...],
                    long_run: tuple[bool, ...]) -> SalesModel:
    """Fit every (objective, long-run features) candidate, keep the best validation WAPE of the
    weekly units and refit it on the ``refit`` origins."""
    valid, y_valid = data.weekly("validation", weeks)
    fits, scores = {}, {}
    for objective, with_long_run in product(objectives, long_run):
        fit = _fit(config, data, weeks, objective, feature_layout(data.split("train"), with_long_run))
        fits[objective, with_long_run] = fit
        scores[objective, with_long_run] = wape(y_valid, fit.predict(data.split("validation"), weeks).T.reshape(-1))
    objective, with_long_run = min(scores, key=scores.get)
    named = {f"{o}{' + long-run' if lr else ''}": v for (o, lr), v in scores.items()}
    log.info("forecast: validation WAPE of the weekly units %s; refitting %s",
             {k: round(v, 4) for k, v in named.items()}, (objective, with_long_run))
    chosen = fits[objective, with_long_run]
    refit, y_refit = data.weekly("refit", weeks)
    booster = lgb.train(lgb_params(config, objective=objective), lgb.Dataset(chosen.layout.matrix(refit), y_refit),
                        num_boost_round=max(chosen.booster.best_iteration, 1))
    return SalesModel(final=WeeklyFit(booster, chosen.layout), chosen_by=chosen, objective=objective,
                      long_run=with_long_run, validation_wape=named)


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


def forecast_origin(panel: SalesPanel, fit: WeeklyFit, frame: pl.DataFrame, origin: int,
                    shares: dict[str, list[float]], horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """The panel rows of ``frame``'s items (features as of ``origin``) and their (items, horizon)
    daily units from the origin: each week's forecast spread by the weekday ``shares``."""
    items = np.searchsorted(panel.item_ids, frame[names.ITEM_ID].to_numpy())
    return items, daily_forecast(fit.predict(frame, horizon // WEEK), panel.categories[items], shares,
                                 panel.day(origin).weekday(), horizon)


def daily_forecasts(data: SalesData, fit: WeeklyFit, split: str, horizon: int) -> list[OriginForecast]:
    """The split's origins, each forecast day by day; the weekday profile is the one known at
    the split's first origin."""
    panel = data.panel
    shares = weekday_shares(panel, data.origins[split][0])
    out = []
    for t in data.origins[split]:
        items, mean = forecast_origin(panel, fit, data.rows.filter(pl.col(ORIGIN) == t), t, shares, horizon)
        out.append(OriginForecast(items, mean, panel.units[items, t:t + horizon]))
    return out


def choose_dispersion(forecasts: list[OriginForecast], level: float) -> float:
    """The narrowest negative binomial (largest size) whose validation coverage reaches ``level``."""
    mean = np.concatenate([f.mean.ravel() for f in forecasts])
    actual = np.concatenate([f.actual.ravel() for f in forecasts])
    for size in sorted(DISPERSIONS, reverse=True):
        if interval_coverage(actual, *nb_interval(mean, size, level)) >= level:
            return size
    return min(DISPERSIONS)
