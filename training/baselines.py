"""Simple references every model must beat: a recency-frequency logistic regression."""

from __future__ import annotations

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression

RECENCY_FREQUENCY = ("user_activity__days_since_last_event", "user_activity__purchases_90d",
                     "user_activity__views_30d", "user_activity__sessions_30d")
NEVER = 365.0    # days since the last event of a user without one


def _design(frame: pl.DataFrame) -> np.ndarray:
    recency = frame[RECENCY_FREQUENCY[0]].fill_null(NEVER).to_numpy()
    counts = frame.select(RECENCY_FREQUENCY[1:]).fill_null(0).to_numpy()
    return np.column_stack([np.log1p(recency), np.log1p(counts)])


def recency_frequency(train: pl.DataFrame, label: str):
    """Fit on ``train``; returns a function from a frame to probabilities."""
    model = LogisticRegression(max_iter=1000).fit(_design(train), train[label].to_numpy())
    return lambda frame: model.predict_proba(_design(frame))[:, 1]
