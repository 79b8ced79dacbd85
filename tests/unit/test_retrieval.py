"""The item index on random unit vectors: exact search equals brute force, HNSW keeps its recall,
no -1 ids ever leave it, k beyond the catalogue returns the catalogue, unknown ids are refused,
and a saved index answers as the original did (exact, HNSW, a refined PCA graph, a refined IVF)."""

import numpy as np
import polars as pl
import pytest

from shopml.retrieval import EXACT, HNSW, HNSW_REFINED, IVF_REFINED, IndexConfig, ItemIndex, UnknownItemError


def unit_vectors(n: int, d: int = 32, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def share_of_true_ten(found: np.ndarray, truth: np.ndarray) -> float:
    """Recall@10 of approximate results against the exact ten, averaged over queries."""
    return float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)]))


def test_exact_search_is_brute_force_inner_product():
    vectors = unit_vectors(500)
    ids = np.arange(1000, 1500)
    index = ItemIndex.build(ids, vectors)
    assert index.kind == EXACT
    queries = unit_vectors(20, seed=1)
    found, scores = index.search(queries, 10)
    truth = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    assert (found == ids[truth]).all()
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ vectors.T, truth, axis=1), rtol=1e-5)


def test_hnsw_above_the_threshold_keeps_recall():
    vectors = unit_vectors(5000, seed=2)
    index = ItemIndex.build(np.arange(5000), vectors, IndexConfig(exact_below=1000, ef_search=128))
    assert index.kind == HNSW
    queries = unit_vectors(200, seed=3)
    found, _ = index.search(queries, 10)
    truth = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    assert share_of_true_ten(found, truth) > 0.9


def test_similar_items_exclude_the_item_and_never_return_padding():
    index = ItemIndex.build(np.array([7, 8, 9]), unit_vectors(3))
    similar = index.similar(8, k=50)
    assert [item for item, _ in similar] and 8 not in [item for item, _ in similar]
    assert len(similar) == 2 and all(item >= 0 for item, _ in similar)
    assert len(index.results(unit_vectors(1)[0], 50)) == 3
    with pytest.raises(UnknownItemError):
        index.similar(99, k=5)
    with pytest.raises(ValueError):
        index.similar(7, k=0)


def test_co_occurrence_blends_into_similar_items():
    vectors = unit_vectors(100, seed=4)
    co = pl.DataFrame({"item_id": [0], "other_id": [99], "weight": [1.0]})
    index = ItemIndex.build(np.arange(100), vectors, co_occurrence=co)
    assert 99 in [item for item, _ in index.similar(0, 3, co_weight=0.9)]
    plain = [item for item, _ in index.similar(0, 3)]
    truth = [int(i) for i in np.argsort(-(vectors @ vectors[0]))[1:4]]
    assert plain == truth


def test_a_saved_index_answers_as_the_original(tmp_path):
    vectors = unit_vectors(3000, seed=5)
    index = ItemIndex.build(np.arange(3000) * 3, vectors, IndexConfig(exact_below=1000),
                            co_occurrence=pl.DataFrame({"item_id": [0], "other_id": [3], "weight": [1.0]}))
    index.save(tmp_path)
    loaded = ItemIndex.load(tmp_path, ef_search=128)
    queries = unit_vectors(10, seed=6)
    assert (loaded.search(queries, 5)[0] == index.search(queries, 5)[0]).all()
    assert loaded.kind == HNSW and loaded.co_occurrence.equals(index.co_occurrence)


def low_rank_unit_vectors(n: int) -> np.ndarray:
    """12 latent directions in 32 dimensions (PCA to 16 keeps nearly all), as text embeddings have few."""
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(n, 12)) @ rng.normal(size=(12, 32)) + 0.05 * rng.normal(size=(n, 32))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("config, kind", [
    (IndexConfig(exact_below=1000, ef_search=128, pca_dims=16, refine_factor=4), HNSW_REFINED),
    (IndexConfig(exact_below=1000, ivf_from=1000, ivf_lists=64, pq_subvectors=16, nprobe=16), IVF_REFINED)])
def test_a_refined_index_re_ranks_exactly_and_survives_a_save(tmp_path, config, kind):
    vectors = low_rank_unit_vectors(5200)
    vectors, queries = vectors[:5000], vectors[5000:]
    index = ItemIndex.build(np.arange(5000), vectors, config)
    assert index.kind == kind
    found, scores = index.search(queries, 10)
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ vectors.T, found, axis=1), rtol=1e-5)  # exact scores
    truth = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    assert share_of_true_ten(found, truth) > 0.9
    np.testing.assert_allclose(index.vectors([3, 4]), vectors[[3, 4]], rtol=1e-6)       # full vectors, not PCA's
    index.save(tmp_path)
    loaded = ItemIndex.load(tmp_path)
    assert loaded.kind == kind and (loaded.search(queries, 10)[0] == found).all()


def test_an_inverted_file_scans_more_lists_for_more_recall_and_refuses_no_re_ranking():
    vectors = low_rank_unit_vectors(5200)
    vectors, queries = vectors[:5000], vectors[5000:]
    index = ItemIndex.build(np.arange(5000), vectors, IndexConfig(exact_below=0, ivf_from=1, ivf_lists=64,
                                                                  pq_subvectors=16, nprobe=1))
    truth = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]

    narrow = share_of_true_ten(index.search(queries, 10)[0], truth)
    index.set_nprobe(64)                            # every list: only the codes' coarseness is left, re-ranked away
    assert share_of_true_ten(index.search(queries, 10)[0], truth) > max(narrow, 0.95)
    with pytest.raises(ValueError, match="ivf_refine_factor"):
        IndexConfig(ivf_refine_factor=0)
