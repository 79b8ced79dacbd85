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
