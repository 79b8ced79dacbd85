"""The FAISS item index on a large simulated catalogue (default 200,000 items) of real
embeddings: recall@10 against exact search, queries per second (the best of three batches, 2
threads), single-query p50 / p99, build time and index size, for the exact index, HNSW graphs
over the full vectors and over PCA-reduced ones, and inverted files of 4-bit PQ codes (fast
scan), the last two with exact re-ranking of ``refine`` x 10 candidates. Each index is built once
and searched with several settings. Queries are search queries the simulator writes for random
items. Embeddings are cached (``--cache``), so re-runs skip the encoding (a million items take 30
to 40 minutes on 2 cores). Goals on 2 cores: recall@10 >= 0.95 at >= 5,000 queries per second
on 200,000 items; >= 0.97 at >= 10,000 on 1,000,000.

    python -m bench.faiss_index [--items 200000] [--queries 2000] [--cache /tmp/shopml-bench]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import faiss
import numpy as np

from bench.measure import write_results
from shopml.retrieval import IVF_REFINED, IndexConfig, ItemIndex, index_type, ivf_list_count
from shopml.warehouse.simulator import SimulationConfig
from shopml.warehouse.simulator import text
from shopml.warehouse.simulator.catalog import build_catalog
from shopml.text_model import ENCODER, TextEncoder

# each index, built once, and its searches (the knobs set before each): HNSW graphs, a graph over
# PCA-reduced vectors with exact re-ranking, and inverted files of 4-bit PQ codes with exact re-ranking
GRAPH = dict(exact_below=0, ivf_from=0)
BUILDS = [(IndexConfig(**GRAPH, hnsw_m=16, ef_construction=40), [dict(ef_search=32), dict(ef_search=64)]),
          (IndexConfig(**GRAPH, hnsw_m=32, ef_construction=200),
           [dict(ef_search=32), dict(ef_search=64), dict(ef_search=128)]),
          (IndexConfig(**GRAPH, hnsw_m=32, ef_construction=200, pca_dims=128, refine_factor=4),
           [dict(ef_search=64, refine_factor=2), dict(ef_search=64, refine_factor=4),
            dict(ef_search=128, refine_factor=4)]),
          (IndexConfig(exact_below=0, ivf_from=1),
           [dict(nprobe=16, refine_factor=20), dict(nprobe=32, refine_factor=10), dict(nprobe=32, refine_factor=20),
            dict(nprobe=64, refine_factor=20)])]
BATCH_REPEATS = 3                   # queries/s: the best of this many batches (one varies by tens of percent)
GOALS = {200_000: (0.95, 5000), 1_000_000: (0.97, 10_000)}       # items -> (recall@10, queries per second)


def _catalogue_and_queries(items: int, queries: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(7)
    catalog = build_catalog(SimulationConfig(users=1000, items=items, seed=7), rng, np.random.default_rng(8))
    texts = [f"{t}. {d}" for t, d in zip(catalog.title, catalog.description)]
    wanted = rng.choice(items, queries, replace=False)
    asked = text.search_queries(catalog.brand[wanted], catalog.adjective[wanted], catalog.colour[wanted],
                                catalog.noun[wanted], catalog.category[wanted], rng)
    return texts, [str(q) for q in asked]


def _embeddings(encoder: TextEncoder, texts: list[str], path: Path) -> np.ndarray:
    if path.is_file():
        return np.load(path)
    started = time.perf_counter()
    vectors = encoder.encode(texts, lambda done, total: print(f"  encoded {done:,} of {total:,} "
                                                             f"({done / (time.perf_counter() - started):.0f}/s)",
                                                             flush=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def _described(config: IndexConfig, items: int, search: dict) -> str:
    refine = f", exact re-rank of {search['refine_factor']} x k" if search.get("refine_factor") else ""
    if index_type(items, config) == IVF_REFINED:
        codes = f"PQ{config.pq_subvectors}x4 fast scan"
        return f"IVF{ivf_list_count(items, config)} + {codes}, nprobe={search['nprobe']}{refine}"
    graph = (f"PCA{config.pca_dims} + " if config.pca_dims else "") + \
        f"HNSW M={config.hnsw_m} efConstruction={config.ef_construction}"
    return f"{graph} efSearch={search['ef_search']}{refine}"


def _latencies(index: ItemIndex, queries: np.ndarray) -> tuple[float, float]:
    times = []
    for query in queries[:500]:
        started = time.perf_counter()
        index.search(query, 10)
        times.append(time.perf_counter() - started)
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3)


def _run(name: str, index: ItemIndex, build_seconds: float, queries: np.ndarray, truth: np.ndarray,
         goal: tuple[float, int]) -> dict:
    qps = 0.0
    for _ in range(BATCH_REPEATS):
        started = time.perf_counter()
        found, _ = index.search(queries, 10)
        qps = max(qps, len(queries) / (time.perf_counter() - started))
    recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)]))
    p50, p99 = _latencies(index, queries)
    size = faiss.serialize_index(index.index).nbytes / 2**20
    run = {"index": name, "recall_at_10": round(recall, 4), "queries_per_second": round(qps),
           "p50_ms": round(p50, 3), "p99_ms": round(p99, 3), "build_seconds": round(build_seconds, 2),
           "index_mib": round(size, 1), "meets_goal": recall >= goal[0] and qps >= goal[1]}
    print(f"{name}: recall@10 {recall:.4f}, {qps:,.0f} q/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
          f"build {build_seconds:.1f} s, {size:,.0f} MiB", flush=True)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/shopml-bench"))
    args = parser.parse_args()
    faiss.omp_set_num_threads(2)
    texts, asked = _catalogue_and_queries(args.items, args.queries)
    encoder = TextEncoder.load()
    vectors = _embeddings(encoder, texts, args.cache / f"item_embeddings_{args.items}_{ENCODER.replace('/', '_')}.npy")
    queries = encoder.encode(asked)
    ids = np.arange(args.items)
    started = time.perf_counter()
    exact = ItemIndex.build(ids, vectors, IndexConfig(exact_below=args.items + 1))
    exact_build = time.perf_counter() - started
    truth, _ = exact.search(queries, 10)
    goal = GOALS.get(args.items, GOALS[200_000])
    runs = [_run("exact (IndexFlatIP)", exact, exact_build, queries, truth, goal)]
    del exact
    for config, searches in BUILDS:
        started = time.perf_counter()
        index = ItemIndex.build(ids, vectors, config)
        built = time.perf_counter() - started
        for search in searches:
            index.set_ef_search(search.get("ef_search", config.ef_search))
            index.set_nprobe(search.get("nprobe", config.nprobe))
            index.set_refine_factor(search.get("refine_factor", config.ivf_refine_factor if index.kind == IVF_REFINED
                                               else config.refine_factor))
            runs.append(_run(_described(config, len(vectors), search), index, built, queries, truth, goal))
    name = "faiss_index" if args.items == 200_000 else f"faiss_index_{args.items}"
    print(f"wrote {write_results(name, {'items': args.items, 'queries': len(queries), 'goal': {'recall_at_10': goal[0], 'queries_per_second': goal[1]}, 'runs': runs})}")


if __name__ == "__main__":
    main()
