"""Why a model scores a user high: LightGBM's per-row SHAP contributions (``pred_contrib``),
summed over named groups of features into a few human-readable reasons, each with its share of
the positive push towards the prediction.

The top reason names a cause before the symptom. Inactivity is what every way of leaving ends
in, so its features dominate a churn model's contributions for nearly every churner; the top
reason is therefore the cause group with the largest push when that push is at least
``min_cause_push`` (in log-odds), and "inactive lately" only when no cause pushes that hard.
The churn task chooses ``min_cause_push`` on its validation churners (``CAUSE_PUSH_GRID``) where
the data has recorded causes and saves it with the model; ``MIN_CAUSE_PUSH`` is the default
elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

OTHER = "other signals"
SYMPTOM = "inactive lately"
MIN_CAUSE_PUSH = 0.0        # log-odds a cause group must add before it outranks the symptom
CAUSE_PUSH_GRID = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
# reason -> feature columns (``<view>__<feature>``) that speak for it
REASON_FEATURES: dict[str, tuple[str, ...]] = {
    "inactive lately": (
        "user_activity__views_7d", "user_activity__views_30d", "user_activity__carts_7d",
        "user_activity__carts_30d", "user_activity__purchases_7d", "user_activity__purchases_30d",
        "user_activity__purchases_90d", "user_activity__sessions_30d", "user_activity__distinct_categories_30d",
        "user_activity__days_since_last_event", "user_activity__days_since_last_purchase",
        "user_activity__purchase_days_total", "user_activity__days_since_first_purchase"),
    "price rises in favourite categories": (
        "user_experience__price_rise_seen_30d", "user_monetary__avg_price_paid_vs_list_90d"),
    "bad item experiences": (
        "user_experience__low_rated_purchases_90d", "user_experience__low_ratings_given_90d",
        "user_engagement__avg_rating_given_90d"),
    "searches without results": (
        "user_engagement__searches_without_click_30d", "user_engagement__searches_30d"),
    "too many notifications": (
        "user_engagement__pushes_received_90d", "user_engagement__push_open_rate_90d",
        "user_engagement__pushes_received_2d"),
}
REASONS = (*REASON_FEATURES, OTHER)
CAUSES = tuple(reason for reason in REASON_FEATURES if reason != SYMPTOM)


@dataclass(frozen=True)
class Reasons:
    top: np.ndarray          # per row: the strongest cause when it pushes hard enough, else the symptom
    shares: np.ndarray       # (rows, REASONS): each reason's share of the positive contributions
    probability: np.ndarray  # per row: the model's probability (the contributions and bias, summed)


def explain(booster: lgb.Booster, matrix: pd.DataFrame | np.ndarray, min_cause_push: float = MIN_CAUSE_PUSH) -> Reasons:
    with_bias = booster.predict(matrix, pred_contrib=True, num_threads=1)
    contributions = with_bias[:, :-1]
    features = booster.feature_name()
    group = {column: OTHER for column in features}
    for reason, columns in REASON_FEATURES.items():
        group.update({column: reason for column in columns if column in group})
    by_reason = np.column_stack([
        contributions[:, [i for i, c in enumerate(features) if group[c] == reason]].sum(axis=1)
        for reason in REASONS])
    positive = np.clip(by_reason, 0, None)
    total = positive.sum(axis=1, keepdims=True)
    shares = np.divide(positive, total, out=np.zeros_like(positive), where=total > 0)
    causes = by_reason[:, [REASONS.index(cause) for cause in CAUSES]]
    strongest = np.asarray(CAUSES, dtype=object)[causes.argmax(axis=1)]
    top = np.where(causes.max(axis=1) >= min_cause_push, strongest, SYMPTOM)
    return Reasons(top=top, shares=shares, probability=1 / (1 + np.exp(-with_bias.sum(axis=1))))
