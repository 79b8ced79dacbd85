"""Candidate sources on a six-item shop: each proposes what it should, scored in [0, 1]."""

import numpy as np
import polars as pl
from scipy import sparse

from shopml.retrieval import ItemIndex
from training.candidates import ITEM, ROW, CandidateSources, Catalogue

ITEMS = np.array([10, 11, 12, 13, 14, 15])
CATEGORY = ["toys", "toys", "toys", "books", "books", "books"]
SALES = [5.0, 1.0, 0.0, 9.0, 2.0, 7.0]


def _sources() -> CandidateSources:
    catalogue = Catalogue.of(pl.DataFrame({"item": ITEMS, "category": CATEGORY, "sales": SALES}),
                             "item", "category", "sales")
    following = sparse.csr_matrix(([3.0, 1.0], ([1, 1], [2, 5])), shape=(7, 7))    # by position: 10 -> 11, 10 -> 14
    vectors = np.eye(6, dtype=np.float32)
    vectors[2] = [0.8, 0, 0.6, 0, 0, 0]                                           # 12 is like 10
    return CandidateSources(catalogue, following, ItemIndex.build(ITEMS, vectors), per_source=3)


def test_each_source_proposes_its_items():
    proposed = _sources().propose(np.array([[10, np.nan, -1]]))
    by = {source: dict(zip(proposed[ITEM].to_list(), proposed[f"{source}_score"].to_list()))
          for source in ("co_occurrence", "similar", "category", "popular")}
    assert {i for i, s in by["co_occurrence"].items() if s > 0} == {11, 14}
    assert by["co_occurrence"][11] == 1.0 and by["co_occurrence"][14] == 1 / 3
    assert {i for i, s in by["similar"].items() if s > 0} == {10, 12}              # the item itself, then its neighbour
    assert {i for i, s in by["category"].items() if s > 0} == {10, 11, 12}         # toys, best sellers first
    assert {i for i, s in by["popular"].items() if s > 0} == {13, 15, 10}
    assert proposed.select(pl.col("^.*_score$")).to_numpy().max() == 1.0 and set(proposed[ROW]) == {0}


def test_a_user_without_recent_items_gets_the_best_sellers_only():
    proposed = _sources().propose(np.array([[np.nan, np.nan], [99, -1]]))         # 99: not in the catalogue
    assert proposed.filter(pl.col("popular_score") == 0).is_empty()
    assert sorted(proposed.filter(pl.col(ROW) == 1)[ITEM].to_list()) == [10, 13, 15]
