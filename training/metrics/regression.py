"""Regression and forecast metrics (prices, units sold), as pure functions of the actual and
predicted values. WAPE and MASE are scale-free, so they compare across items and shops; MASE
scales by the in-sample error of the seasonal naive forecast, the forecasting literature's
reference (Hyndman & Koehler, 2006)."""

from __future__ import annotations

import numpy as np


def mae(actual, predicted) -> float:
    return float(np.mean(np.abs(np.asarray(actual, dtype=float) - np.asarray(predicted, dtype=float))))


def rmse(actual, predicted) -> float:
    return float(np.sqrt(np.mean((np.asarray(actual, dtype=float) - np.asarray(predicted, dtype=float)) ** 2)))


def wape(actual, predicted) -> float:
    """Sum of absolute errors over the sum of absolute actuals (nan when every actual is 0)."""
    actual = np.asarray(actual, dtype=float)
    total = np.abs(actual).sum()
    return float(np.abs(actual - np.asarray(predicted, dtype=float)).sum() / total) if total else float("nan")


def mase(actual, predicted, history, season: int = 1) -> float:
    """MAE of the forecast over the MAE of the seasonal naive forecast (each value predicted by
    the one ``season`` steps earlier) on ``history``, the series before the forecast origin; nan
    when the history is too short or flat."""
    history = np.asarray(history, dtype=float)
    if len(history) <= season:
        return float("nan")
    scale = np.mean(np.abs(history[season:] - history[:-season]))
    return mae(actual, predicted) / scale if scale > 0 else float("nan")


def interval_coverage(actual, lower, upper) -> float:
    """Share of actuals inside their prediction interval [lower, upper]."""
    actual = np.asarray(actual, dtype=float)
    return float(np.mean((actual >= np.asarray(lower, dtype=float)) & (actual <= np.asarray(upper, dtype=float))))


def seasonal_scales(history, starts, season: int = 1, power: int = 1) -> np.ndarray:
    """Per series (a row of ``history`` that starts at column ``starts[i]``), the in-sample mean
    absolute (``power`` 1: MASE's denominator) or squared (``power`` 2: RMSSE's) error of the
    seasonal naive forecast, for many series at once; nan when a series has ``season`` days or
    fewer."""
    history = np.asarray(history, dtype=float)
    diffs = np.abs(history[:, season:] - history[:, :-season]) ** power
    valid = np.arange(season, history.shape[1])[None, :] >= np.asarray(starts)[:, None] + season
    counts = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, (diffs * valid).sum(axis=1) / counts, np.nan)


def _mean_scaled(errors: np.ndarray, scales, root: bool = False, weights=None) -> float:
    """The (weighted) mean over rows with a positive scale of error / scale (its root with
    ``root``); the weights of the rows left out do not count."""
    scales = np.asarray(scales, dtype=float)
    weights = np.ones(len(scales)) if weights is None else np.asarray(weights, dtype=float)
    usable = np.isfinite(scales) & (scales > 0)
    if not usable.any() or weights[usable].sum() <= 0:
        return float("nan")
    ratios = errors[usable] / scales[usable]
    return float(np.average(np.sqrt(ratios) if root else ratios, weights=weights[usable]))


def mean_mase(actual, predicted, scales) -> float:
    """MASE averaged over the series (rows) whose scale is positive: each row's MAE over its
    ``seasonal_scales`` value (series that never varied have no scale and are left out)."""
    errors = np.abs(np.asarray(actual, dtype=float) - np.asarray(predicted, dtype=float)).mean(axis=1)
    return _mean_scaled(errors, scales)


def mean_rmsse(actual, predicted, squared_scales, weights=None) -> float:
    """RMSSE (the M5 competition's accuracy measure) averaged over the series (rows) whose scale
    is positive: the root of each row's mean squared error over its ``seasonal_scales(...,
    power=2)`` value. Unlike MASE it is least for the mean forecast, not the median: for
    intermittent series, whose median is often 0, MAE-based measures reward forecasting nothing.
    With ``weights`` (M5: each series' sales in the 28 days before the origin) it is WRMSSE, where
    the unweighted mean is ruled by slow series whose tiny scale magnifies any forecast."""
    errors = ((np.asarray(actual, dtype=float) - np.asarray(predicted, dtype=float)) ** 2).mean(axis=1)
    return _mean_scaled(errors, squared_scales, root=True, weights=weights)
