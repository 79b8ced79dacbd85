"""The references a sales forecast must beat, fitted per series by statsforecast (Nixtla's
maintained implementations, rather than our own): the seasonal naive forecast (each day repeats
the same weekday of the last week), exponential smoothing (an ETS model, by default ETS(A,N,N):
simple smoothing, the one an intermittent item series supports) and Croston's method with the
Syntetos-Boylan correction, the standard reference for intermittent demand. Each series starts
at its item's launch, so the days before it do not count as days without sales; a series too
short for a model (an item launched days before the origin) gets its historic average, as
statsforecast's fallback."""

from __future__ import annotations

import logging
import warnings
from datetime import date

import numpy as np
import pandas as pd

from .sales import WEEK

SEASONAL_NAIVE, ETS, CROSTON = "seasonal_naive", "ets", "croston_sba"


def _models(ets_model: str, season: int):
    from statsforecast.models import AutoETS, CrostonSBA, SeasonalNaive

    return {SEASONAL_NAIVE: SeasonalNaive(season_length=season, alias=SEASONAL_NAIVE),
            ETS: AutoETS(season_length=season, model=ets_model, alias=ETS),
            CROSTON: CrostonSBA(alias=CROSTON)}


def baseline_forecasts(history: np.ndarray, starts: np.ndarray, first_day: date, horizon: int, level: float,
                       ets_model: str = "ANN", season: int = WEEK) -> dict[str, tuple[np.ndarray, ...]]:
    """Per baseline, (mean, lower, upper) arrays of shape (series, horizon) forecast from
    ``history`` (series, days); series i starts at column ``starts[i]`` (clipped to the panel).
    Croston's method gives no interval: its bounds are None."""
    from statsforecast import StatsForecast
    from statsforecast.models import HistoricAverage

    logging.getLogger("statsforecast").setLevel(logging.WARNING)
    n, days = history.shape
    starts = np.clip(starts, 0, days - 1)
    lengths = days - starts
    series = np.repeat(np.arange(n), lengths)
    column = starts[series] + (np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths))
    frame = pd.DataFrame({"unique_id": series, "ds": pd.Timestamp(first_day) + pd.to_timedelta(column, unit="D"),
                          "y": history[series, column]})
    percent = int(round(level * 100))
    out = {}
    for name, model in _models(ets_model, season).items():
        with_interval = name != CROSTON
        with warnings.catch_warnings():       # short series: the fallback answers, as documented above
            warnings.simplefilter("ignore")
            found = StatsForecast(models=[model], freq="D", n_jobs=1, fallback_model=HistoricAverage()).forecast(
                df=frame, h=horizon, **({"level": [percent]} if with_interval else {}))
        found = found.sort_values(["unique_id", "ds"])

        def column_of(suffix: str) -> np.ndarray:
            values = found[f"{name}{suffix}"].to_numpy(dtype=float).reshape(n, horizon)
            return np.clip(np.nan_to_num(values, nan=0.0), 0, None)

        out[name] = (column_of(""), *((column_of(f"-lo-{percent}"), column_of(f"-hi-{percent}")) if with_interval
                                      else (None, None)))
    return out

