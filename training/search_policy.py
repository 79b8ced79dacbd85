"""Ranking search results by what reviews say, judged in the what-if shop.

The production engine ranks every result list by appeal. An item that disappoints its buyer (a
bad experience: the quality met, after any defect, falls short) raises the buyer's churn hazard,
so an engine that shows the items buyers are pleased with first may sell a little less and keep
more customers. ``search_whatif`` continues the simulated shop from the end of its data with the
engine ranking by appeal times the share of pleased buyers:
- by reviews: one minus the item's negative review share of the last 90 days
  (``item_review_sentiment.negative_share_90d``, written by `shopml train feedback`, read
  point-in-time through ``review_v1`` as of the cut-off), shrunk toward the shop's share by
  ``prior_reviews`` reviews, so an item with one bad review is not buried;
- by the truth (the oracle's policy): one minus each item's true chance of a bad experience,
  from its experienced quality and the simulator's satisfaction noise;
beside the status quo, on the same random numbers (``simulator.whatif``).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
from scipy.stats import norm

from feature_repo.definitions import names
from shopml.settings import Settings

from .datasets import point_in_time_dataset
from .oracle import whatif_start

BY_REVIEWS, BY_TRUTH = "ranked by reviews", "ranked by true satisfaction (oracle)"
NEGATIVE_SHARE = f"{names.ITEM_REVIEW_SENTIMENT}__negative_share_90d"
REVIEWS = f"{names.ITEM_REVIEW_SENTIMENT}__reviews_90d"


def pleased_share(negative_share: np.ndarray, reviews: np.ndarray, prior_reviews: float) -> np.ndarray:
    """Per item, the share of reviews that are not negative, shrunk toward the shop's (the
    reviews' pooled share) by ``prior_reviews``; an item without reviews gets the shop's."""
    reviews = np.nan_to_num(np.asarray(reviews, dtype=float))
    negative = np.nan_to_num(np.asarray(negative_share, dtype=float)) * reviews
    shop = negative.sum() / reviews.sum() if reviews.sum() > 0 else 0.0
    return 1 - (negative + prior_reviews * shop) / (reviews + prior_reviews)


def search_whatif(settings: Settings, horizon: int = 28, seeds: int = 20,
                  prior_reviews: float = 5.0) -> dict[str, dict[str, float]]:
    """Per arm (the status quo, ranked by reviews, ranked by true satisfaction), each measure and
    its change from the status quo with its 95% interval over ``seeds`` paired futures."""
    from shopml.warehouse.simulator.whatif import Policy, compare

    config, day, world = whatif_start(settings)
    cutoff = config.start_time + timedelta(days=day)
    catalog, b = world.catalog, world.behaviour
    items = np.arange(catalog.n_items)
    rows = pl.DataFrame({names.ITEM_ID: items + 1}).with_columns(pl.lit(cutoff).alias(names.EVENT_TIMESTAMP))
    said = point_in_time_dataset(rows, names.REVIEW_V1, settings)
    if said[REVIEWS].null_count() == said.height:
        raise ValueError("no review features as of the data's end: run `shopml train feedback` first")
    by_reviews = pleased_share(said[NEGATIVE_SHARE].to_numpy(), said[REVIEWS].to_numpy(), prior_reviews)
    truly_bad = norm.cdf((b.bad_experience_threshold - catalog.experienced_quality(items, day)) / b.satisfaction_noise)
    arms = {BY_REVIEWS: Policy(search_rank=catalog.appeal * np.maximum(by_reviews, 1e-6)),
            BY_TRUTH: Policy(search_rank=catalog.appeal * np.maximum(1 - truly_bad, 1e-6))}
    return compare(world, day, horizon, arms, seeds)
