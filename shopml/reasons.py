"""Why a model scores a user high: LightGBM's per-row SHAP contributions (``pred_contrib``),
summed over named groups of features into a few human-readable reasons, each with its share of
the positive push towards the prediction.

The top reason names a cause before the symptom. Inactivity is what every way of leaving ends
in, so its features dominate a churn model's contributions for nearly every churner; the top
reason is therefore the cause group with the largest push plus that cause's offset, when that
sum is above 0 (log-odds), and "inactive lately" only when no cause pushes that hard.

The offsets correct what SHAP measures: a push is the distance from the *average* user, so a
trouble that every user carries (price rises) pushes little even where it is the cause. The
churn task chooses the offsets on its validation churners where the data has recorded causes
(``choose_cause_offsets``) and saves them with the model; elsewhere they are 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

OTHER = "other signals"
SYMPTOM = "inactive lately"
OFFSET_GRID = np.round(np.linspace(-2.0, 2.0, 81), 2)   # log-odds, the offsets a cause may get
# reason -> feature columns (``<view>__<feature>``) that speak for it
REASON_FEATURES: dict[str, tuple[str, ...]] = {
    "inactive lately": (
        "user_activity__views_7d", "user_activity__views_30d", "user_activity__carts_7d",
        "user_activity__carts_30d", "user_activity__purchases_7d", "user_activity__purchases_30d",
        "user_activity__purchases_90d", "user_activity__sessions_30d", "user_activity__distinct_categories_30d",
        "user_activity__days_since_last_event", "user_activity__days_since_last_purchase",
        "user_activity__purchase_days_total", "user_activity__days_since_first_purchase"),
    "price rises in favourite categories": (
        "user_experience__price_rise_seen_30d", "user_experience__price_rise_in_taste",
        "user_monetary__avg_price_paid_vs_list_90d"),
    "bad item experiences": (
        "user_experience__low_rated_purchases_90d", "user_experience__low_ratings_given_90d",
        "user_experience__low_rated_purchases_decayed", "user_experience__low_ratings_given_decayed",
        "user_engagement__avg_rating_given_90d"),
    "searches without results": (
        "user_engagement__searches_without_click_30d", "user_engagement__searches_without_click_decayed",
        "user_engagement__searches_30d"),
    "too many notifications": (
        "user_engagement__pushes_received_90d", "user_engagement__push_open_rate_90d",
        "user_engagement__pushes_received_2d", "user_engagement__pushes_received_decayed"),
}
REASONS = (*REASON_FEATURES, OTHER)
CAUSES = tuple(reason for reason in REASON_FEATURES if reason != SYMPTOM)


@dataclass(frozen=True)
class Reasons:
    top: np.ndarray          # per row: the strongest cause when it pushes hard enough, else the symptom
    shares: np.ndarray       # (rows, REASONS): each reason's share of the positive contributions
    probability: np.ndarray  # per row: the model's probability (the contributions and bias, summed)


@dataclass(frozen=True)
class Pushes:
    by_reason: np.ndarray    # (rows, REASONS): the SHAP contributions summed per reason (log-odds)
    probability: np.ndarray

    @classmethod
    def of(cls, booster: lgb.Booster, matrix: pd.DataFrame | np.ndarray) -> Pushes:
        with_bias = booster.predict(matrix, pred_contrib=True, num_threads=1)
        contributions, features = with_bias[:, :-1], booster.feature_name()
        group = {column: OTHER for column in features}
        for reason, columns in REASON_FEATURES.items():
            group.update({column: reason for column in columns if column in group})
        by_reason = np.column_stack([
            contributions[:, [i for i, c in enumerate(features) if group[c] == reason]].sum(axis=1)
            for reason in REASONS])
        return cls(by_reason, 1 / (1 + np.exp(-with_bias.sum(axis=1))))

    def top(self, cause_offsets: Mapping[str, float] | None = None) -> np.ndarray:
        offsets = np.array([(cause_offsets or {}).get(cause, 0.0) for cause in CAUSES])
        causes = self.by_reason[:, [REASONS.index(cause) for cause in CAUSES]] + offsets
        strongest = np.asarray(CAUSES, dtype=object)[causes.argmax(axis=1)]
        return np.where(causes.max(axis=1) > 0, strongest, SYMPTOM)

    def reasons(self, cause_offsets: Mapping[str, float] | None = None) -> Reasons:
        positive = np.clip(self.by_reason, 0, None)
        total = positive.sum(axis=1, keepdims=True)
        shares = np.divide(positive, total, out=np.zeros_like(positive), where=total > 0)
        return Reasons(top=self.top(cause_offsets), shares=shares, probability=self.probability)


def explain(booster: lgb.Booster, matrix: pd.DataFrame | np.ndarray,
            cause_offsets: Mapping[str, float] | None = None) -> Reasons:
    return Pushes.of(booster, matrix).reasons(cause_offsets)


def choose_cause_offsets(pushes: Pushes, recorded: np.ndarray, sweeps: int = 4) -> dict[str, float]:
    """The offsets (from OFFSET_GRID) whose top reasons agree best with the recorded causes, by
    coordinate search: one cause at a time, the others held, until a sweep changes nothing. Ties
    go to the offset nearest 0."""
    offsets = dict.fromkeys(CAUSES, 0.0)
    by_closeness = sorted(OFFSET_GRID, key=abs)
    for _ in range(sweeps):
        before = dict(offsets)
        for cause in CAUSES:
            offsets[cause] = float(max(by_closeness, key=lambda value, cause=cause: np.mean(
                pushes.top(offsets | {cause: value}) == recorded)))
        if offsets == before:
            break
    return offsets
