"""``shopml index build``: embed the catalogue (only new texts are encoded), learn behavioural
co-occurrence from sessions, build the FAISS item index and save it as the BentoML model
``item_index`` with its metadata (text model, dimension, metric, index type, item count, build
time, similar-item quality).

Similar items are judged two ways. Precision@10: the share of an item's 10 neighbours in its own
subcategory. Co-purchase hit rate, on held-out time: co-occurrence is learned from sessions
before the last ``holdout_days``; an item counts as a hit when one of its 10 neighbours was
bought by the same user in that later window. The saved index carries co-occurrence from all
sessions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from feature_repo.definitions import names
from shopml.retrieval import IndexConfig, ItemIndex, index_type
from shopml.model_store import save_artifact
from shopml.settings import Settings
from shopml.text_model import ENCODER, TEXT_MODEL
from shopml.warehouse.database import connect

from .embeddings import build_item_embeddings, read_item_embeddings

log = logging.getLogger(__name__)

INDEX_MODEL = "item_index"
SIMILAR_QUALITY = "similar items on later co-purchases"     # the metrics table saved with the index


@dataclass(frozen=True)
class ItemIndexConfig(IndexConfig):
    co_top: int = 20                  # co-occurring items kept per item
    co_weight: float = 0.3            # weight of co-occurrence when similar items are blended
    holdout_days: int = 28            # later window for the co-purchase hit rate
    neighbours: int = 10              # k of precision@k and the hit rate


CO_OCCURRENCE_SQL = """
WITH baskets AS (
    SELECT DISTINCT session_id, item_id FROM events
    WHERE event_type IN ('view', 'cart', 'purchase') AND ts < ?::TIMESTAMPTZ),
pairs AS (
    SELECT a.item_id, b.item_id AS other_id, count(*) AS sessions
    FROM baskets a JOIN baskets b ON a.session_id = b.session_id AND a.item_id <> b.item_id
    GROUP BY ALL),
ranked AS (
    SELECT *, row_number() OVER (PARTITION BY item_id ORDER BY sessions DESC, other_id) AS rank,
           max(sessions) OVER (PARTITION BY item_id) AS most
    FROM pairs)
SELECT item_id, other_id, sessions / most AS weight FROM ranked WHERE rank <= ? ORDER BY item_id, rank
"""
CO_PURCHASE_SQL = """
WITH bought AS (SELECT DISTINCT user_id, item_id FROM events WHERE event_type = 'purchase' AND ts >= ?::TIMESTAMPTZ)
SELECT DISTINCT a.item_id, b.item_id AS other_id FROM bought a JOIN bought b
  ON a.user_id = b.user_id AND a.item_id <> b.item_id
"""


def co_occurrence(settings: Settings, before: datetime, top: int) -> pl.DataFrame:
    """Per item, the ``top`` items most often in the same session before ``before``, weighted
    by sessions shared over those of its most frequent partner."""
    with connect(settings.warehouse_path) as con:
        return con.sql(CO_OCCURRENCE_SQL, params=[before, top]).pl()


def _titles(settings: Settings) -> pl.DataFrame:
    with connect(settings.warehouse_path) as con:
        return con.sql(f"SELECT item_id AS {names.ITEM_ID}, title FROM items ORDER BY item_id").pl()


def _last_event(settings: Settings) -> datetime:
    with connect(settings.warehouse_path) as con:
        return con.execute("SELECT max(ts) FROM events").fetchall()[0][0]


def similar_item_quality(settings: Settings, index: ItemIndex, config: ItemIndexConfig,
                         holdout_start: datetime) -> dict:
    with connect(settings.warehouse_path) as con:
        subcategory = dict(con.execute("SELECT item_id, subcategory FROM items").fetchall())
        later = con.sql(CO_PURCHASE_SQL, params=[holdout_start]).pl()
    partners = later.group_by("item_id").agg(pl.col("other_id"))
    partner_sets = {item: set(others) for item, others in partners.iter_rows()}
    k = config.neighbours
    out = {}
    for name, weight in (("embedding", 0.0), ("blended", config.co_weight)):
        same, hits = [], []
        for item in index.item_ids:
            found = [other for other, _ in index.similar(int(item), k, co_weight=weight)]
            same.append(np.mean([subcategory[o] == subcategory[int(item)] for o in found]) if found else 0.0)
            if int(item) in partner_sets:
                hits.append(bool(partner_sets[int(item)].intersection(found)))
        out[name] = {f"precision_at_{k}_same_subcategory": float(np.mean(same)),
                     f"co_purchase_hit_rate_at_{k}": float(np.mean(hits)) if hits else float("nan"),
                     "items_with_later_co_purchases": len(hits)}
    return out


def build_item_index(settings: Settings, config: ItemIndexConfig = ItemIndexConfig(),
                     on_step: Callable[[str], None] | None = None,
                     on_batch: Callable[[int, int], None] | None = None) -> tuple[str, dict]:
    """Embed, build, judge and save; returns the saved model's tag and its metadata."""
    step = on_step or (lambda name: None)
    step("embedding items")
    embedded = build_item_embeddings(settings, on_batch=on_batch)
    item_ids, vectors = read_item_embeddings(settings)

    step("judging similar items on held-out co-purchases")
    last_event = _last_event(settings)
    holdout_start = last_event - timedelta(days=config.holdout_days)
    index_config = IndexConfig(**{f: getattr(config, f) for f in IndexConfig.__dataclass_fields__})
    judged = ItemIndex.build(item_ids, vectors, index_config,
                             co_occurrence(settings, holdout_start, config.co_top))
    quality = similar_item_quality(settings, judged, config, holdout_start)

    step("building the index")
    every_session = co_occurrence(settings, last_event + timedelta(seconds=1), config.co_top)
    started = time.perf_counter()
    index = ItemIndex.build(item_ids, vectors, index_config, every_session, _titles(settings))
    build_seconds = time.perf_counter() - started
    metadata = {"text_model": TEXT_MODEL, "text_encoder": ENCODER, "dimension": int(vectors.shape[1]),
                "metric": "inner_product (cosine)",
                "index_type": index_type(len(item_ids), index_config), "items": int(len(item_ids)),
                "build_seconds": round(build_seconds, 3), "encoded_now": embedded.encoded,
                "embedding_seconds": round(embedded.seconds, 2), "config": asdict(config),
                "metrics": {SIMILAR_QUALITY: quality}}
    step("saving")
    tag = save_artifact(INDEX_MODEL, {"task": INDEX_MODEL, "feature_view": names.ITEM_EMBEDDING}, metadata,
                        settings, index.save)
    return tag, metadata
