"""Next item: which items will a user buy next?

A self-attentive sequence model (``training.sequence_model``, SASRec trained with a full softmax)
reads a user's item events (views, carts, purchases; a run of the same item kept once) in time
order and scores the whole catalogue as the next one. Each item's vector adds a projection of its
text embedding (the ``item_embedding`` view the FAISS index is built from), so a new item is not
blind.

Point in time, two weekly cut-offs: the model trains on the sequences before the validation
cut-off (every position predicts the item after it, so no training label reads the validation or
test weeks) and stops early on the validation week; the test week is read once. A target is the
user's first purchase in the week after a cut-off; the input is every item event before the
cut-off (the latest ``max_length``). Items a user has seen stay rankable: shops re-sell them.

Judged on the test week's buyers with a history, by HR@10, NDCG@10 and MRR over the full
catalogue, against popularity (purchases in the four weeks before the cut-off), item-to-item
co-occurrence (what followed the user's latest items in the training sequences) and, on simulated
data, an oracle: the user's hidden category taste times each item's share of its category's
purchases in the test week (the simulator picks a purchase's category from the taste, then the item
by appeal and price, the same for everyone; its per-category carting odds are not recorded, so
this oracle is close to, not exactly, the simulator's own ranking)."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl
from scipy import sparse

from feature_repo.definitions import names
from shopml.model_store import save_artifact
from shopml.settings import Settings
from shopml.warehouse.database import connect

from ..embeddings import read_item_embeddings
from ..evaluation import Evaluation
from ..item_sequences import ItemIndex, following_matrix, sequences_before
from ..kinds import ranking
from ..labels import midnight_after
from ..report import line_chart
from ..sequence_model import (PAD, VALIDATION_METRIC, Histories, SelfAttentiveRecommender, SequenceModelConfig,
                              rank_metrics, same_for_everyone, target_ranks)
from ..task import task_labels

log = logging.getLogger(__name__)

TABLE = "next purchase, test weeks' buyers (full catalogue ranking)"
MODEL, POPULARITY, CO_OCCURRENCE, ORACLE = "SASRec + text", "popularity", "co-occurrence", "oracle (taste x item share)"
HORIZON = timedelta(days=7)
POPULARITY_DAYS = 28
CO_OCCURRENCE_RECENT = 5          # the user's latest items that propose the next
WEIGHTS_FILE, ITEMS_FILE, SIDE_FILE = "weights.pt", "items.npy", "side.npy"
CHART_K = 50                      # the report's hit-rate curve runs to this list length

FIRST_PURCHASES_SQL = """
SELECT user_id AS {user}, first(item_id ORDER BY ts, event_id) AS target
FROM events
WHERE event_type = 'purchase' AND ts >= ?::TIMESTAMPTZ AND ts < ?::TIMESTAMPTZ
GROUP BY user_id
"""
POPULAR_SQL = """
SELECT item_id, count(*) AS purchases FROM events
WHERE event_type = 'purchase' AND ts >= ?::TIMESTAMPTZ AND ts < ?::TIMESTAMPTZ GROUP BY item_id
"""
ORACLE_SQL = """
WITH bought AS (
    SELECT i.item_id, i.category, count(p.item_id) AS purchases
    FROM items i LEFT JOIN events p ON p.item_id = i.item_id AND p.event_type = 'purchase'
         AND p.ts >= ?::TIMESTAMPTZ AND p.ts < ?::TIMESTAMPTZ
    GROUP BY i.item_id, i.category
)
SELECT item_id, category, purchases / greatest(sum(purchases) OVER (PARTITION BY category), 1) AS share FROM bought
"""


@dataclass(frozen=True)
class NextItemConfig(SequenceModelConfig):
    history_days: int = 90            # item events read before a cut-off
    max_length: int = 30              # the latest events the model reads
    dropout: float = 0.2              # the shop's sequences are longer and denser than Amazon's reviews
    learning_rate: float = 3e-3
    max_epochs: int = 8
    patience: int = 1                 # on the demo shop validation NDCG@10 peaked at epoch 4 and epochs 5-7 stayed below it
    max_minutes: float = 3.0
    validation_weeks: int = 2         # weekly cut-offs, each judged on the next week's first purchases
    test_weeks: int = 2
    use_text: bool = True             # add each item's projected text embedding to its vector


@dataclass
class Week:
    """The buyers of the week after ``cutoff`` who have a history before it."""
    cutoff: datetime
    users: np.ndarray
    histories: Histories


@dataclass
class NextItemData:
    item_ids: np.ndarray              # catalogue item id of index 1..n (index 0 pads)
    side: np.ndarray | None           # (n, width) text embeddings by index
    train: list[np.ndarray]           # per user, the sequence before the first validation cut-off
    splits: dict[str, list[Week]]     # validation, test

    def histories(self, split: str) -> Histories:
        weeks = self.splits[split]
        return sum((w.histories for w in weeks[1:]), weeks[0].histories)


class NextItemTask:
    name = "next_item"
    question = "Which items will a user buy next?"
    family = "sequences"
    entity = "user"
    feature_service = names.NEXT_ITEM_V1
    evaluation = ranking(TABLE, model=MODEL, reference=CO_OCCURRENCE)   # the stronger baseline on the demo shop
    config_type = NextItemConfig

    def build_dataset(self, config: NextItemConfig, settings: Settings) -> NextItemData:
        with connect(settings.warehouse_path) as con:
            last = con.execute("SELECT max(ts) FROM events WHERE event_type = 'purchase'").fetchall()[0][0]
            catalogue = con.sql("SELECT item_id FROM items ORDER BY item_id").pl()["item_id"].to_numpy()
        if last is None:
            raise ValueError("the warehouse has no purchases")
        latest = midnight_after(last) - HORIZON
        weeks = config.validation_weeks + config.test_weeks
        cutoffs = [latest - HORIZON * k for k in range(weeks)][::-1]
        index = ItemIndex(catalogue)
        history = timedelta(days=config.history_days)
        before = [sequences_before(settings, cutoff, history, index) for cutoff in cutoffs]
        train = [s for s in before[0].values() if len(s) >= 2]
        splits = {"validation": [], "test": []}
        for number, (cutoff, sequences) in enumerate(zip(cutoffs, before)):
            week = next_purchases(settings, cutoff, sequences, index)
            splits["validation" if number < config.validation_weeks else "test"].append(week)
        log.info("next_item: %d training sequences; buyers with a history: %s", len(train),
                 {split: [len(w.users) for w in weeks] for split, weeks in splits.items()})
        side = None
        if config.use_text:
            embedded, vectors = read_item_embeddings(settings)
            side = np.zeros((len(catalogue), vectors.shape[1]), dtype=np.float32)
            found = index.of(embedded)
            side[found[found > PAD] - 1] = vectors[found > PAD]
        return NextItemData(catalogue, side, train, splits)

    def train(self, config: NextItemConfig, data: NextItemData) -> SelfAttentiveRecommender:
        model = SelfAttentiveRecommender(len(data.item_ids), config, data.side)
        return model.fit(data.train, data.histories("validation"), mask_seen=False,
                         on_epoch=lambda epoch, loss, score: log.info(
                             "next_item: epoch %d, loss %.3f, validation NDCG@10 %.4f", epoch, loss, score))

    def evaluate(self, config: NextItemConfig, model: SelfAttentiveRecommender, data: NextItemData,
                 settings: Settings) -> Evaluation:
        index, following = ItemIndex(data.item_ids), co_occurrence(data.train, len(data.item_ids))
        ranks: dict[str, list[np.ndarray]] = {}
        for week in data.splits["test"]:
            scorers = {MODEL: model.scores, POPULARITY: popular_items(settings, week.cutoff, index),
                       CO_OCCURRENCE: following}
            oracle = taste_oracle(settings, week.cutoff, week.users, index)
            if oracle is not None:
                scorers[ORACLE] = oracle
            for name, scorer in scorers.items():
                ranks.setdefault(name, []).append(target_ranks(scorer, week.histories, mask_seen=False))
        ranks = {name: np.concatenate(found) for name, found in ranks.items()}
        rows = {name: rank_metrics(found) for name, found in ranks.items()}
        if ORACLE in rows:
            best = rows[ORACLE]["ndcg_at_10"]
            for row in rows.values():
                row["share_of_oracle_ndcg"] = row["ndcg_at_10"] / best if best > 0 else float("nan")
        return Evaluation(heads={}, tables={TABLE: rows}, figures=[hit_rate_chart(ranks), learning_chart(model.history)])

    def save(self, config: NextItemConfig, model: SelfAttentiveRecommender, data: NextItemData, metrics: dict,
             settings: Settings) -> str:
        import torch

        def write(folder):
            torch.save(model.state(), folder / WEIGHTS_FILE)
            np.save(folder / ITEMS_FILE, data.item_ids)
            if data.side is not None:
                np.save(folder / SIDE_FILE, data.side)

        metadata = {"config": asdict(config), "metrics": metrics, "epochs": model.history, "best_epoch": model.best_epoch,
                    "cutoffs": {split: [w.cutoff.isoformat() for w in weeks] for split, weeks in data.splits.items()}}
        return save_artifact(self.name, task_labels(self), json.loads(json.dumps(metadata, default=str)), settings,
                             write)


def hit_rate_chart(ranks: dict[str, np.ndarray]) -> str:
    """Per system, the share of test buyers whose next purchase is in its top k, k = 1..CHART_K."""
    k = np.arange(1, CHART_K + 1)
    curves = {name: (found[:, None] < k).mean(axis=0) for name, found in ranks.items()}
    top = float(max(c.max() for c in curves.values())) * 1.1 or 1.0
    return line_chart(f"hit rate by list length k (1 to {CHART_K})", {name: (k / CHART_K, c) for name, c in curves.items()},
                      f"k / {CHART_K}", "share of buyers with the item in the top k", y_max=top, palette=True)


def learning_chart(history: list[dict]) -> str:
    """The training loss and validation NDCG@10 after each epoch (each scaled to its largest)."""
    epochs = np.array([h["epoch"] for h in history], dtype=float)
    series = {"training loss / its largest": np.array([h["loss"] for h in history]),
              "validation NDCG@10 / its largest": np.array([h[f"validation_{VALIDATION_METRIC}"] for h in history],
                                                           dtype=float)}
    return line_chart(f"training, epoch by epoch (1 to {len(history)})",
                      {name: (epochs / epochs.max(), values / np.nanmax(values)) for name, values in series.items()},
                      f"epoch / {len(history)}", "share of the largest", markers=True, palette=True)


def next_purchases(settings: Settings, cutoff: datetime, sequences: dict[int, np.ndarray], index: ItemIndex) -> Week:
    """The users who buy in the week after ``cutoff`` and have a history before it (``sequences``,
    from ``sequences_before``): their sequences and their first purchase after it."""
    with connect(settings.warehouse_path) as con:
        targets = con.sql(FIRST_PURCHASES_SQL.format(user=names.USER_ID), params=[cutoff, cutoff + HORIZON]).pl()
    targets = targets.filter(pl.col(names.USER_ID).is_in(list(sequences))).sort(names.USER_ID)
    users = targets[names.USER_ID].to_numpy()
    return Week(cutoff, users, Histories([sequences[u] for u in users], index.of(targets["target"].to_numpy())))


def popular_items(settings: Settings, cutoff: datetime, index: ItemIndex):
    """A scorer: every user the items' purchases in the ``POPULARITY_DAYS`` before ``cutoff``."""
    with connect(settings.warehouse_path) as con:
        counts = con.sql(POPULAR_SQL, params=[cutoff - timedelta(days=POPULARITY_DAYS), cutoff]).pl()
    scores = np.zeros(len(index.item_ids) + 1)
    np.add.at(scores, index.of(counts["item_id"].to_numpy()), counts["purchases"].to_numpy())
    return same_for_everyone(scores)


def co_occurrence(train: list[np.ndarray], items: int):
    """A scorer: the items that followed each of the user's latest ``CO_OCCURRENCE_RECENT`` items
    within ``CO_OCCURRENCE_WINDOW`` steps in the training sequences, the latest weighing most; ties
    broken by how often an item follows anything."""
    following = following_matrix(train, items)
    prior = 1e-6 * np.asarray(following.sum(axis=0)).ravel()

    def scores(inputs: list[np.ndarray]) -> np.ndarray:
        recent = [s[-CO_OCCURRENCE_RECENT:] for s in inputs]
        weights = np.concatenate([0.5 ** np.arange(len(r))[::-1] for r in recent])
        users = sparse.csr_matrix((weights, (np.repeat(np.arange(len(recent)), [len(r) for r in recent]),
                                             np.concatenate(recent))), shape=(len(recent), items + 1))
        out = (users @ following).toarray() + prior
        out[:, PAD] = -np.inf
        return out

    return scores


def taste_oracle(settings: Settings, cutoff: datetime, users: np.ndarray, index: ItemIndex) -> np.ndarray | None:
    """(users, items + 1) for the test buyers: the hidden taste for the item's category times the
    item's share of its category's purchases in the week after ``cutoff``; None on imported data."""
    from .preferences import hidden_taste

    with connect(settings.warehouse_path) as con:
        shares = con.sql(ORACLE_SQL, params=[cutoff, cutoff + HORIZON]).pl()
    categories = sorted(set(shares["category"].to_list()))
    taste = hidden_taste(settings, users, categories)
    if taste is None:
        return None
    item_category, share = np.zeros(len(index.item_ids) + 1, dtype=int), np.zeros(len(index.item_ids) + 1)
    at = index.of(shares["item_id"].to_numpy())
    item_category[at] = [categories.index(c) for c in shares["category"].to_list()]
    share[at] = shares["share"].fill_null(0).to_numpy()
    scores = taste[:, item_category] * share
    scores[:, PAD] = -np.inf
    return scores
