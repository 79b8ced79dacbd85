"""Simple references every model must beat, each a logistic regression on a few obvious columns:
recency and frequency for what a user does next, an ad's past click-through and the slot's
position for ad clicks."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression

RECENCY_FREQUENCY = ("user_activity__days_since_last_event", "user_activity__purchases_90d",
                     "user_activity__views_30d", "user_activity__sessions_30d")
NEVER = 365.0    # days since the last event of a user without one
AD_CTR, AD_POSITION = "ad_stats__smoothed_ctr_30d", "ad_position"
UNKNOWN_CTR = 0.05    # an ad without history


def _recency_frequency(frame: pl.DataFrame) -> np.ndarray:
    recency = frame[RECENCY_FREQUENCY[0]].fill_null(NEVER).to_numpy()
    counts = frame.select(RECENCY_FREQUENCY[1:]).fill_null(0).to_numpy()
    return np.column_stack([np.log1p(recency), np.log1p(counts)])


def _ad_popularity(frame: pl.DataFrame) -> np.ndarray:
    ctr = np.clip(frame[AD_CTR].fill_null(UNKNOWN_CTR).fill_nan(UNKNOWN_CTR).to_numpy(), 1e-4, 1 - 1e-4)
    return np.column_stack([np.log(ctr / (1 - ctr)), frame[AD_POSITION].to_numpy()])


def _logistic(design: Callable[[pl.DataFrame], np.ndarray], train: pl.DataFrame, label: str):
    model = LogisticRegression(max_iter=1000).fit(design(train), train[label].to_numpy())
    return lambda frame: model.predict_proba(design(frame))[:, 1]


def recency_frequency(train: pl.DataFrame, label: str) -> Callable[[pl.DataFrame], np.ndarray]:
    """Fit on ``train``; returns a function from a frame to probabilities."""
    return _logistic(_recency_frequency, train, label)


def ad_popularity(train: pl.DataFrame, label: str) -> Callable[[pl.DataFrame], np.ndarray]:
    """The ad's smoothed 30-day click-through and the slot's position; same contract."""
    return _logistic(_ad_popularity, train, label)
