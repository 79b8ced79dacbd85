"""The item index: unit item embeddings in FAISS, searched by inner product (= cosine), with the
id map from FAISS positions to item ids and, optionally, behavioural co-occurrence to blend into
similar items. Training builds and saves it; services load it; both through this module.

Small catalogues are searched exactly (``IndexFlatIP``); from ``exact_below`` items on, an HNSW
graph (``IndexHNSWFlat``) trades a little recall for speed. The graph can walk PCA-reduced vectors
(``pca_dims``: cheaper distances, so a wider search for the same time) and hand ``refine_factor``
times k candidates to an exact re-ranking on the full vectors (``IndexRefineFlat``). From
``ivf_from`` items on, an inverted file replaces the graph: ``nprobe`` of its lists are scanned in
4-bit product-quantised codes (FAISS's fast scan, many codes per SIMD instruction) and
``ivf_refine_factor`` times k candidates are re-ranked exactly: at a million items it beats the
graph's best recall at three times its speed (bench.faiss_index). FAISS pads a result with id -1
when fewer than k items exist; those never leave this module, and ``k`` larger than the catalogue
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
EXACT, HNSW, HNSW_REFINED, IVF_REFINED = "flat_ip", "hnsw_flat_ip", "hnsw_refined_ip", "ivf_pq4_refined_ip"


class UnknownItemError(KeyError):
    """An item id the index does not hold."""


@dataclass(frozen=True)
class IndexConfig:
    exact_below: int = 50_000         # catalogues smaller than this are searched exactly
    hnsw_m: int = 32                  # HNSW: links per node
    ef_construction: int = 200        # HNSW: candidate list while building
    ef_search: int = 64               # HNSW recall@10, 2 cores (bench.faiss_index): 0.981 at 14,981 q/s on
                                      # 200k items, 0.952 at 9,158 q/s on 1M (128 there: 0.972 at 4,676)
    pca_dims: int = 0                 # HNSW walks vectors reduced to this many PCA dimensions (0: the full ones)
    refine_factor: int = 0            # HNSW fetches this many times k candidates, re-ranked exactly (0: none)
    ivf_from: int = 500_000           # catalogues this large are searched by IVF + 4-bit PQ, re-ranked exactly
    ivf_lists: int = 0                # IVF: inverted lists (0: 4 x the square root of the items)
    pq_subvectors: int = 192          # IVF: 4-bit codes per item (each covers dimension / pq_subvectors)
    nprobe: int = 32                  # IVF: lists scanned per query
    ivf_refine_factor: int = 20       # IVF: candidates re-ranked exactly, as a multiple of k. On 1M items, 2 cores
                                      # (bench.faiss_index): recall@10 0.982 at 15,193 q/s (10: 0.950 at 19,284)

    def __post_init__(self):
        if self.ivf_refine_factor < 1:
            raise ValueError(f"ivf_refine_factor must be at least 1 (4-bit codes alone rank too coarsely), "
                             f"not {self.ivf_refine_factor}")


def index_type(items: int, config: IndexConfig) -> str:
    if items < config.exact_below:
        return EXACT
    if items >= config.ivf_from > 0:
        return IVF_REFINED
    return HNSW_REFINED if config.refine_factor else HNSW


def _hnsw(index: faiss.Index) -> faiss.IndexHNSW | None:
    """The HNSW graph inside ``index`` (under a refinement and a PCA), None for an exact index."""
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexRefine):
        return _hnsw(index.base_index)
    if isinstance(index, faiss.IndexPreTransform):
        return _hnsw(index.index)
    return index if isinstance(index, faiss.IndexHNSW) else None


def ivf_list_count(items: int, config: IndexConfig) -> int:
    """The inverted lists of an IVF index of ``items`` vectors: ``config.ivf_lists``, else 4 x the root."""
    return config.ivf_lists or int(4 * np.sqrt(items))


def _ivf(index: faiss.Index) -> faiss.IndexIVF | None:
    """The inverted file inside ``index``, None for a graph or an exact index."""
    try:
        return faiss.extract_index_ivf(index)
    except RuntimeError:
        return None


def _ivf_index(dimension: int, vectors: np.ndarray, config: IndexConfig) -> faiss.Index:
    """An IVF index of 4-bit PQ codes with exact re-ranking (trained and filled) as ``config`` sets it.
    k-means sees at most 64 vectors per list (FAISS's default of 256 would train on a million)."""
    lists = ivf_list_count(len(vectors), config)
    index = faiss.index_factory(dimension, f"IVF{lists},PQ{config.pq_subvectors}x4fs,Refine(Flat)",
                                faiss.METRIC_INNER_PRODUCT)
    ivf = _ivf(index)
    ivf.cp.max_points_per_centroid, ivf.nprobe = 64, config.nprobe
    faiss.downcast_index(index).k_factor = config.ivf_refine_factor
    index.train(vectors)
    index.add(vectors)
    return index


def _graph_index(dimension: int, vectors: np.ndarray, config: IndexConfig) -> faiss.Index:
    """An HNSW index of ``vectors`` (trained and filled) as ``config`` sets it."""
    walked = f"PCA{config.pca_dims},HNSW{config.hnsw_m},Flat" if config.pca_dims else f"HNSW{config.hnsw_m},Flat"
    index = faiss.index_factory(dimension, walked + (",Refine(Flat)" if config.refine_factor else ""),
                                faiss.METRIC_INNER_PRODUCT)
    graph = _hnsw(index)
    graph.hnsw.efConstruction, graph.hnsw.efSearch = config.ef_construction, config.ef_search
    if config.refine_factor:
        faiss.downcast_index(index).k_factor = config.refine_factor
    index.train(vectors)
    index.add(vectors)
    return index


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
        kind = index_type(len(vectors), config)
        if kind == EXACT:
            index = faiss.IndexFlatIP(dimension)
            index.add(vectors)
        else:
            index = (_ivf_index if kind == IVF_REFINED else _graph_index)(dimension, vectors, config)
        return cls(index, item_ids, co_occurrence, titles)

    @property
    def kind(self) -> str:
        if _ivf(self.index) is not None:
            return IVF_REFINED
        if _hnsw(self.index) is None:
            return EXACT
        return HNSW_REFINED if isinstance(faiss.downcast_index(self.index), faiss.IndexRefine) else HNSW

    def __len__(self) -> int:
        return len(self.item_ids)

    def __contains__(self, item_id: int) -> bool:
        return int(item_id) in self._position

    def title(self, item_id: int) -> str | None:
        return self._title.get(int(item_id))

    def set_ef_search(self, ef_search: int) -> None:
        graph = _hnsw(self.index)
        if graph is not None:
            graph.hnsw.efSearch = ef_search

    def set_nprobe(self, nprobe: int) -> None:
        """How many inverted lists an IVF index scans per query (no effect on others)."""
        ivf = _ivf(self.index)
        if ivf is not None:
            ivf.nprobe = nprobe

    def set_refine_factor(self, refine_factor: int) -> None:
        """How many times k candidates a refined index re-ranks exactly (no effect on others)."""
        index = faiss.downcast_index(self.index)
        if isinstance(index, faiss.IndexRefine):
            index.k_factor = refine_factor

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
