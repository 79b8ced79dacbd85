"""The recommendation carousels a shop logs (``carousels``, ``carousel_impressions``), as rows a
recommendation ranker can learn from: every shown item with its position, whether it was clicked
and its ``recommend_v1`` features as of the carousel's time.

Two slices, each split at the recommendation task's own cut-offs (train: carousels before its
first validation cut-off, back ``weeks`` weeks; validation: up to its first test cut-off; the
test weeks' carousels are never read): every shown item of a sample of all carousels (the
engine's production order dominates it), and the exploration slice (carousels that showed a
random sample of the catalogue in random order), whose click rate by position measures the
examination curve, and whose clicks, weighted by its inverse (``training.exposure``), estimate
attraction without the production order's exposure.

A carousel's items were not proposed by the ranker's candidate sources, so their source scores
are unknown (null), which LightGBM treats as missing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from feature_repo.definitions import names
from shopml.settings import Settings
from shopml.warehouse.database import connect, scalar

from .candidates import PROPOSED_BY, SCORES
from .datasets import point_in_time_dataset
from .exposure import examination_curve, exposure_labels, label_gains

log = logging.getLogger(__name__)

CAROUSEL_ID, CLICKED = "carousel_id", "clicked_label"
SLOTS = 10                    # carousel positions the examination curve is measured for
CAROUSELS_SQL = f"""
SELECT c.carousel_id, c.user_id AS {names.USER_ID}, c.ts AS {names.EVENT_TIMESTAMP}, i.item_id AS {names.ITEM_ID},
       t.category AS {names.CATEGORY}, i.position, i.clicked, false AS purchased, i.clicked::INTEGER AS {CLICKED}
FROM carousels c JOIN carousel_impressions i USING (carousel_id) JOIN items t USING (item_id)
WHERE c.ts >= ?::TIMESTAMPTZ AND c.ts < ?::TIMESTAMPTZ AND (c.explored OR NOT ?)
ORDER BY c.carousel_id, i.position
"""


@dataclass(frozen=True)
class CarouselLogs:
    shown: dict[str, pl.DataFrame]         # train, validation: every shown item of the sampled carousels
    explored: dict[str, pl.DataFrame]      # train, validation: the exploration slice, with EXPOSURE_LABEL
    gains: list[float]                     # EXPOSURE_LABEL's gains: 1 / the measured examination


def carousel_logs(settings: Settings, first_validation: datetime, first_test: datetime, weeks: int,
                  max_carousels: int, min_explored: int, seed: int) -> CarouselLogs | None:
    """The carousels' two slices (see the module docstring), featured; None when the warehouse logs
    no carousels, or its exploration slice holds fewer than ``min_explored`` training carousels (or
    a tenth of it in validation): then there is nothing unbiased to learn from."""
    windows = {"train": (first_validation - timedelta(weeks=weeks), first_validation),
               "validation": (first_validation, first_test)}
    with connect(settings.warehouse_path) as con:
        if not scalar(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'carousels'"):
            log.info("recommendations: the warehouse has no carousels table: learning from purchases only")
            return None
        explored, shown = ({name: _sample(con.sql(CAROUSELS_SQL, params=[*window, only_explored]).pl(),
                                          max_carousels, seed) for name, window in windows.items()}
                           for only_explored in (True, False))
    counts = {name: frame[CAROUSEL_ID].n_unique() for name, frame in explored.items()}
    if counts["train"] < min_explored or counts["validation"] < min_explored // 10:
        log.warning("recommendations: too few explored carousels to learn from (%s): purchases only", counts)
        return None
    examination = examination_curve(explored["train"], SLOTS)
    return CarouselLogs(shown={name: _featured(frame, settings) for name, frame in shown.items()},
                        explored={name: exposure_labels(_featured(frame, settings), SLOTS)
                                  for name, frame in explored.items()},
                        gains=label_gains(examination))


def _sample(shown: pl.DataFrame, carousels: int, seed: int) -> pl.DataFrame:
    """The shown items of at most ``carousels`` carousels drawn at random."""
    ids = shown[CAROUSEL_ID].unique(maintain_order=True)
    return shown.filter(pl.col(CAROUSEL_ID).is_in(ids.sample(min(len(ids), carousels), seed=seed).implode()))


def _featured(shown: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    """``shown`` with its ``recommend_v1`` features as of each carousel, and null source scores."""
    featured = point_in_time_dataset(shown, names.RECOMMEND_V1, settings)
    return featured.with_columns(pl.lit(None, pl.Float64).alias(c) for c in (*SCORES, PROPOSED_BY)).sort(
        CAROUSEL_ID, "position")
