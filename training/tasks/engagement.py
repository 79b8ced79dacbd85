"""Engagement: among users active in the last 30 days, who will like, favourite or share an item,
or write a review, in the next 7 days. One LightGBM head each, on ``churn_v1``, whose
``user_engagement`` view is the user's engagement history (likes, favourites, shares and reviews
over several windows, push opens, ad clicks), scored like propensity (``training.user_outcomes``).

The oracle, on simulated data, comes from the simulator's exact daily probabilities of a like,
a favourite and a share (``truth.user_days``; ``training.oracle.engagement_oracle``). A review
follows a purchase with the probability the simulator drew it with (``truth.purchases``), after a
random delay: its oracle sums, day by day, the chance that the review of an earlier purchase lands
(given it has not come yet) and that a purchase in the week is bought and reviewed in time
(``training.oracle.review_rates``).

Not served on its own: ``POST /profile`` answers each user's probabilities with the segment."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from feature_repo.definitions import names
from shopml.settings import Settings

from ..kinds import BINARY
from ..oracle import engagement_oracle
from ..user_outcomes import Head, UserOutcomeConfig, UserOutcomeTask


@dataclass(frozen=True)
class EngagementConfig(UserOutcomeConfig):
    horizon_days: int = 7             # a like (favourite, share, review) within this many days of the cut-off
    oracle_futures: int = 0           # unused: the oracle is exact (truth.user_days), not Monte Carlo


class EngagementTask(UserOutcomeTask):
    name = "engagement"
    question = "Who will like, favourite, share or review anything in the next week?"
    family = "users"
    feature_service = names.CHURN_V1
    config_type = EngagementConfig
    evaluation = BINARY
    heads = {"like": Head(label="will_like", oracle="like"),
             "favorite": Head(label="will_favorite", oracle="favorite"),
             "share": Head(label="will_share", oracle="share"),
             "review": Head(label="will_review", oracle="review")}

    def oracle(self, config: EngagementConfig, settings: Settings, rows: pl.DataFrame) -> dict[str, np.ndarray] | None:
        return engagement_oracle(settings, rows, config.horizon_days)
