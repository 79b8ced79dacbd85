"""Query-item features by hand: word overlap both ways, plurals, and whole-name containment."""

import polars as pl
import pytest

from shopml.search import ITEM_WORDS, query_item_features


def test_query_item_features_by_hand():
    pairs = pl.DataFrame({
        "query": ["red acme cookbooks", "blue mug", "anything"],
        "cosine": [0.9, 0.5, 0.1],
        "title": ["Acme Red Cookbook Deluxe", "Green Tea", None],
        ITEM_WORDS["category"]: ["books", "kitchen", None],
        ITEM_WORDS["subcategory"]: ["cookbooks", "mugs", None],
        ITEM_WORDS["brand"]: ["Acme", "Blue Co", None],
    })
    out = query_item_features(pairs)
    assert out["cosine"].to_list() == [0.9, 0.5, 0.1]
    # 3 of the query's 3 words are in the title; 3 of the title's 4 words are in the query
    assert out["title_overlap"].to_list() == pytest.approx([1.0, 0.0, 0.0])
    assert out["title_coverage"].to_list() == pytest.approx([0.75, 0.0, 0.0])
    assert out["category_in_query"].to_list() == [0.0, 0.0, 0.0]        # "books" is not asked for
    assert out["subcategory_in_query"].to_list() == [1.0, 1.0, 0.0]     # plurals match singulars
    assert out["brand_in_query"].to_list() == [1.0, 0.0, 0.0]           # every word of the brand is needed
