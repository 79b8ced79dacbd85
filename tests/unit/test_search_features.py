"""Query-item features by hand: word overlap both ways, plurals, and whole-name containment."""

import numpy as np
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


def test_ranking_orders_by_score_then_the_tie_break_then_retrieval():
    from shopml.search import ranking

    scores = np.array([0.5, 0.9, 0.5, 0.5, 0.9, 0.1])
    views = np.array([3.0, 1.0, np.nan, 7.0, 1.0, 99.0])
    # 0.9s first (equal views: retrieval order), then 0.5s by views with the missing one last, then 0.1
    assert ranking(scores, views).tolist() == [1, 4, 3, 0, 2, 5]
    assert ranking(np.zeros(4), np.full(4, np.nan)).tolist() == [0, 1, 2, 3]


def test_the_rankers_item_features_are_chosen_by_name_and_unknown_names_refused():
    from training.tasks.search_ranker import feature_layout

    train = pl.DataFrame({"item_content__category": ["books", None, "toys"],
                          "item_content__subcategory": ["a", "b", "a"]})
    assert feature_layout("", train).columns == ["cosine", "title_overlap", "title_coverage", "category_in_query",
                                                 "subcategory_in_query", "brand_in_query"]
    assert feature_layout("views_7d,avg_rating", train).columns[-2:] == ["item_stats__views_7d",
                                                                          "item_stats__avg_rating"]
    every = feature_layout("all", train)
    assert "item_content__base_price" in every.numeric and "item_stats__days_since_launch" in every.numeric
    assert every.categorical == {"item_content__category": ("books", "toys"), "item_content__subcategory": ("a", "b")}
    with pytest.raises(ValueError, match="views_30d"):
        feature_layout("views_7d,views_30d", train)


def test_a_misspelt_item_feature_is_refused_before_any_data_is_read(tmp_path):
    from shopml.settings import Settings
    from training.tasks.search_ranker import SearchRankerConfig, SearchRankerTask

    empty_home = Settings.resolve(tmp_path)            # no model, no warehouse: any read would fail differently
    with pytest.raises(ValueError, match="views_30d"):
        SearchRankerTask().build_dataset(SearchRankerConfig(item_features="views_30d"), empty_home)
