"""Why a model scores a user high: LightGBM's per-row SHAP contributions (``pred_contrib``),
summed over named groups of features into a few human-readable reasons, each with its share of
the positive push towards the prediction."""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

OTHER = "other signals"
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


@dataclass(frozen=True)
class Reasons:
    top: np.ndarray          # per row: the reason with the largest positive contribution
    shares: np.ndarray       # (rows, REASONS): each reason's share of the positive contributions


def explain(booster: lgb.Booster, matrix: pd.DataFrame) -> Reasons:
    contributions = booster.predict(matrix, pred_contrib=True)[:, :-1]        # drop the bias column
    group = {column: OTHER for column in matrix.columns}
    for reason, columns in REASON_FEATURES.items():
        group.update({column: reason for column in columns if column in group})
    by_reason = np.column_stack([
        contributions[:, [i for i, c in enumerate(matrix.columns) if group[c] == reason]].sum(axis=1)
        for reason in REASONS])
    positive = np.clip(by_reason, 0, None)
    total = positive.sum(axis=1, keepdims=True)
    shares = np.divide(positive, total, out=np.zeros_like(positive), where=total > 0)
    return Reasons(top=np.asarray(REASONS, dtype=object)[by_reason.argmax(axis=1)], shares=shares)
