"""Candidate items for a user's recommendations, from several sources, for a ranker to order:

- ``co_occurrence``: what followed the user's latest items in the shop's sequences (an
  item-to-item model; the sequence model of ``next_item`` is not a source: its training weeks
  overlap the ranker's, and on the demo shop it ties co-occurrence);
- ``similar``: the FAISS neighbours of the user's latest items (title and description);
- ``category``: the best sellers of the categories of the user's latest items;
- ``popular``: the best sellers overall.

Each proposes ``per_source`` items with a score in [0, 1]; the user's latest items weigh
``RECENCY`` ** (how many are newer). An item several sources propose keeps each source's score (0
where one did not propose it) and counts them (``PROPOSED_BY``). Training and the service both call ``propose``, so the ranker
learns on the rows it scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import sparse

from shopml.retrieval import ItemIndex

from .item_sequences import ItemIndex as Positions

SOURCES = ("co_occurrence", "similar", "category", "popular")
SCORES = tuple(f"{source}_score" for source in SOURCES)
PROPOSED_BY = "sources"              # how many sources proposed the item
ROW, ITEM = "row", "item_id"
RECENCY = 0.5


@dataclass(frozen=True)
class Catalogue:
    """The items as a recommendation sees them: ids, category, and sales of the last 30 days."""

    item_ids: np.ndarray              # sorted
    category: np.ndarray              # per item, an index into ``categories`` (-1: none)
    categories: tuple[str, ...]
    sales: np.ndarray                 # per item, purchases in the last 30 days

    @classmethod
    def of(cls, frame: pl.DataFrame, item: str, category: str, sales: str) -> Catalogue:
        """From a frame of one row per item (its id, category and sales columns named)."""
        frame = frame.sort(item)
        categories = tuple(sorted(frame[category].drop_nulls().unique().to_list()))
        code = {c: i for i, c in enumerate(categories)}
        return cls(item_ids=frame[item].to_numpy(), categories=categories,
                   category=np.array([code.get(c, -1) for c in frame[category].to_list()]),
                   sales=frame[sales].fill_null(0).to_numpy().astype(float))

    def best_sellers(self, k: int, category: int | None = None) -> np.ndarray:
        """Positions of the k best-selling items (of ``category``), best first, ties by id."""
        chosen = np.flatnonzero(self.category == category) if category is not None else np.arange(len(self.item_ids))
        return chosen[np.lexsort((self.item_ids[chosen], -self.sales[chosen]))][:k]


def proposed_by() -> pl.Expr:
    """How many sources proposed each row's item (a float, as the ranker reads it)."""
    return pl.sum_horizontal(pl.col(score) > 0 for score in SCORES).cast(pl.Float64).alias(PROPOSED_BY)


class CandidateSources:
    def __init__(self, catalogue: Catalogue, following: sparse.csr_matrix, index: ItemIndex, per_source: int = 50):
        """``following``: co-occurrence by ``item_sequences.ItemIndex`` position (``following_matrix``)
        over the same catalogue; ``index``: the FAISS item index."""
        self.catalogue, self.following, self.index, self.per_source = catalogue, following, index, per_source
        self.positions = Positions(catalogue.item_ids)
        self._by_category = [catalogue.best_sellers(per_source, c) for c in range(len(catalogue.categories))]

    def propose(self, recent: np.ndarray) -> pl.DataFrame:
        """(ROW, ITEM, one score per source, PROPOSED_BY) for each row of ``recent`` (users x slots of item ids,
        newest first; NaN or negative where empty, ids the catalogue lacks ignored)."""
        recent = np.nan_to_num(np.atleast_2d(np.asarray(recent, dtype=float)), nan=-1).astype(np.int64)
        at = self.positions.of(np.maximum(recent, 0)) * (recent >= 0)            # 0: empty or unknown
        weight = np.where(at > 0, RECENCY ** np.arange(recent.shape[1])[None, :], 0.0)
        parts = [self._co_occurring(at, weight), self._similar(at, weight), self._in_categories(at, weight),
                 self.popular(len(recent))]
        long = pl.concat([p.with_columns(pl.lit(source).alias("source")) for p, source in zip(parts, SOURCES)])
        return long.pivot(on="source", index=[ROW, ITEM], values="score", aggregate_function="max").with_columns(
            *(pl.col(source).fill_null(0.0).alias(score) if source in long["source"].unique().to_list()
              else pl.lit(0.0).alias(score) for source, score in zip(SOURCES, SCORES))).select(
            ROW, ITEM, *SCORES, proposed_by())

    def _top(self, rows: np.ndarray, positions: np.ndarray, scores: np.ndarray) -> pl.DataFrame:
        """The ``per_source`` best (position, score) of each row, scores scaled by the row's best."""
        frame = pl.DataFrame({ROW: np.asarray(rows, dtype=np.int64), "position": np.asarray(positions, dtype=np.int64),
                              "score": np.asarray(scores, dtype=float)}).filter(pl.col("score") > 0)
        frame = frame.group_by(ROW, "position").agg(pl.col("score").max()).sort(
            [ROW, "score", "position"], descending=[False, True, False]).group_by(ROW, maintain_order=True).head(
            self.per_source)
        return frame.with_columns((pl.col("score") / pl.col("score").max().over(ROW)).alias("score"),
                                  pl.Series(ITEM, self.catalogue.item_ids[frame["position"].to_numpy() - 1], pl.Int64)
                                  ).select(ROW, ITEM, "score")

    def _co_occurring(self, at: np.ndarray, weight: np.ndarray) -> pl.DataFrame:
        rows = np.repeat(np.arange(len(at)), at.shape[1])
        users = sparse.csr_matrix((weight.ravel(), (rows, at.ravel())), shape=(len(at), self.following.shape[0]))
        found = (users @ self.following).tocoo()
        keep = found.col > 0
        return self._top(found.row[keep], found.col[keep], found.data[keep])

    def _similar(self, at: np.ndarray, weight: np.ndarray) -> pl.DataFrame:
        row, slot = np.nonzero(at > 0)
        if not len(row):
            return pl.DataFrame(schema={ROW: pl.Int64, ITEM: pl.Int64, "score": pl.Float64})
        items = self.catalogue.item_ids[at[row, slot] - 1]
        known = np.array([i in self.index for i in items], dtype=bool)
        row, slot, items = row[known], slot[known], items[known]
        ids, cosines = self.index.search(self.index.vectors(items), self.per_source)
        found = ids >= 0
        positions = self.positions.of(np.where(found, ids, 0))
        scores = np.clip(cosines, 0, None) * weight[row, slot][:, None]
        keep = found & (positions > 0)
        return self._top(np.broadcast_to(row[:, None], ids.shape)[keep], positions[keep], scores[keep])

    def _in_categories(self, at: np.ndarray, weight: np.ndarray) -> pl.DataFrame:
        category = np.where(at > 0, self.catalogue.category[np.maximum(at - 1, 0)], -1)
        rows, positions, scores = [], [], []
        for c, best in enumerate(self._by_category):
            share = (weight * (category == c)).sum(axis=1) / np.maximum(weight.sum(axis=1), 1e-12)
            users = np.flatnonzero(share > 0)
            if len(users) and len(best):
                sales = self.catalogue.sales[best] / max(self.catalogue.sales[best].max(), 1.0)
                rows.append(np.repeat(users, len(best)))
                positions.append(np.tile(best + 1, len(users)))
                scores.append(np.repeat(share[users], len(best)) * np.tile(np.maximum(sales, 1e-6), len(users)))
        if not rows:
            return pl.DataFrame(schema={ROW: pl.Int64, ITEM: pl.Int64, "score": pl.Float64})
        return self._top(np.concatenate(rows), np.concatenate(positions), np.concatenate(scores))

    def popular(self, users: int, category: int | None = None) -> pl.DataFrame:
        """(ROW, ITEM, score) for ``users`` rows: the ``per_source`` best sellers (of ``category``),
        scored by their sales over the shop's best seller's."""
        best = self.catalogue.best_sellers(self.per_source, category)
        scores = np.maximum(self.catalogue.sales[best] / max(self.catalogue.sales.max(), 1.0), 1e-6)
        return pl.DataFrame({ROW: np.repeat(np.arange(users, dtype=np.int64), len(best)),
                             ITEM: np.tile(self.catalogue.item_ids[best], users).astype(np.int64),
                             "score": np.tile(scores, users)})
