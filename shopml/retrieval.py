"""The item index: unit item embeddings in FAISS, searched by inner product (= cosine), with the
id map from FAISS positions to item ids and, optionally, behavioural co-occurrence to blend into
similar items. Training builds and saves it; services load it; both through this module.

Small catalogues are searched exactly (``IndexFlatIP``); from ``exact_below`` items on, an HNSW
graph (``IndexHNSWFlat``) trades a little recall for speed. FAISS pads a result with id -1 when
fewer than k items exist; those never leave this module, and ``k`` larger than the catalogue
returns the whole catalogue.

On disk (a folder, e.g. inside a BentoML model): ``index.faiss``, ``item_ids.npy`` and, when
given, ``co_occurrence.parquet`` (item_id, other_id, weight in [0, 1]) and ``titles.parquet``
(item_id, title: what search matches words against and shows).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import polars as pl

INDEX_FILE, IDS_FILE, CO_FILE, TITLES_FILE = "index.faiss", "item_ids.npy", "co_occurrence.parquet", "titles.parquet"
EXACT, HNSW = "flat_ip", "hnsw_flat_ip"


class UnknownItemError(KeyError):
    """An item id the index does not hold."""


@dataclass(frozen=True)
class IndexConfig:
    exact_below: int = 50_000         # catalogues smaller than this are searched exactly
    hnsw_m: int = 32                  # HNSW: links per node
    ef_construction: int = 200        # HNSW: candidate list while building
    ef_search: int = 64               # HNSW recall@10, 2 cores (bench.faiss_index): 0.981 at 14,981 q/s on
                                      # 200k items, 0.950 at 10,596 q/s on 1M (128 there: 0.968 at 6,119)


def index_type(items: int, config: IndexConfig) -> str:
    return EXACT if items < config.exact_below else HNSW


class ItemIndex:
    def __init__(self, index: faiss.Index, item_ids: np.ndarray, co_occurrence: pl.DataFrame | None = None,
                 titles: pl.DataFrame | None = None):
        if index.ntotal != len(item_ids):
            raise ValueError(f"the index holds {index.ntotal} vectors but the id map {len(item_ids)} ids")
        self.index = index
        self.item_ids = np.asarray(item_ids, dtype=np.int64)
        self._position = {int(item): i for i, item in enumerate(self.item_ids)}
        self.co_occurrence = co_occurrence
        self.titles = titles
        self._title = dict(titles.iter_rows()) if titles is not None else {}

    @classmethod
    def build(cls, item_ids: np.ndarray, vectors: np.ndarray, config: IndexConfig = IndexConfig(),
              co_occurrence: pl.DataFrame | None = None, titles: pl.DataFrame | None = None) -> ItemIndex:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        dimension = vectors.shape[1]
        if index_type(len(vectors), config) == EXACT:
            index = faiss.IndexFlatIP(dimension)
        else:
            index = faiss.IndexHNSWFlat(dimension, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = config.ef_construction
            index.hnsw.efSearch = config.ef_search
        index.add(vectors)
        return cls(index, item_ids, co_occurrence, titles)

    @property
    def kind(self) -> str:
        return HNSW if isinstance(self.index, faiss.IndexHNSW) else EXACT

    def __len__(self) -> int:
        return len(self.item_ids)

    def __contains__(self, item_id: int) -> bool:
        return int(item_id) in self._position

    def title(self, item_id: int) -> str | None:
        return self._title.get(int(item_id))

    def set_ef_search(self, ef_search: int) -> None:
        if isinstance(self.index, faiss.IndexHNSW):
            self.index.hnsw.efSearch = ef_search

    def vector(self, item_id: int) -> np.ndarray:
        if item_id not in self:
            raise UnknownItemError(f"item {item_id} is not in the index ({len(self)} items)")
        return self.index.reconstruct(self._position[int(item_id)])

    def vectors(self, item_ids) -> np.ndarray:
        """The stored unit vectors of ``item_ids`` (a float32 matrix)."""
        unknown = [int(i) for i in item_ids if int(i) not in self._position]
        if unknown:
            raise UnknownItemError(f"items {unknown[:5]} are not in the index ({len(unknown)} unknown)")
        return self.index.reconstruct_batch(np.array([self._position[int(i)] for i in item_ids], dtype=np.int64))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(item ids, scores) per query, best first, at most min(k, catalogue) each. Rows are
        padded with id -1 and score -inf only where HNSW found fewer; use ``results``."""
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        scores, positions = self.index.search(queries, min(k, len(self)))
        ids = np.where(positions >= 0, self.item_ids[np.maximum(positions, 0)], -1)
        return ids, np.where(positions >= 0, scores, -np.inf)

    def results(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        ids, scores = self.search(query, k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def similar(self, item_id: int, k: int, co_weight: float = 0.0) -> list[tuple[int, float]]:
        """The k nearest other items by cosine, optionally blended with co-occurrence:
        score = (1 - co_weight) * cosine + co_weight * co-occurrence weight."""
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        found = self.results(self.vector(item_id), min(len(self), k + 1 + (50 if co_weight else 0)))
        neighbours = {other: score for other, score in found if other != int(item_id)}
        if co_weight and self.co_occurrence is not None:
            co = self.co_occurrence.filter(pl.col("item_id") == int(item_id))
            co_weights = dict(zip(co["other_id"].to_list(), co["weight"].to_list()))
            for other in co_weights.keys() - neighbours.keys():
                neighbours[other] = float(self.index.reconstruct(self._position[other]) @ self.vector(item_id))
            neighbours = {other: (1 - co_weight) * cosine + co_weight * co_weights.get(other, 0.0)
                          for other, cosine in neighbours.items()}
        return sorted(neighbours.items(), key=lambda pair: -pair[1])[:k]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(folder / INDEX_FILE))
        np.save(folder / IDS_FILE, self.item_ids, allow_pickle=False)
        if self.co_occurrence is not None:
            self.co_occurrence.write_parquet(folder / CO_FILE)
        if self.titles is not None:
            self.titles.write_parquet(folder / TITLES_FILE)

    @classmethod
    def load(cls, folder: Path, ef_search: int | None = None) -> ItemIndex:
        folder = Path(folder)
        optional = {name: pl.read_parquet(folder / name) if (folder / name).is_file() else None
                    for name in (CO_FILE, TITLES_FILE)}
        loaded = cls(faiss.read_index(str(folder / INDEX_FILE)), np.load(folder / IDS_FILE, allow_pickle=False),
                     optional[CO_FILE], optional[TITLES_FILE])
        if ef_search is not None:
            loaded.set_ef_search(ef_search)
        return loaded
