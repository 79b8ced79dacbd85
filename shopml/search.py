"""Query–item features for product search, shared by the ranker's training and the service:
embedding similarity and lexical overlap of the query with the item's title, category,
subcategory and brand (words compared lower-case, plural s dropped). Vectorised over a frame of
(query, item) pairs that already holds the item's Feast features (``search_v1``).

Input columns: ``query``, ``cosine`` (query embedding · item embedding), ``title`` and the Feast
columns of ``ITEM_WORDS`` (text columns may be null).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from feature_repo.definitions import names

QUERY_ITEM_FEATURES = ("cosine", "title_overlap", "title_coverage", "category_in_query",
                       "subcategory_in_query", "brand_in_query")
MAX_QUERY_CHARS = 200           # longer queries are refused by the service and cut by the trainer
# what an item is called, as search_v1 names it (``<view>__<feature>``)
ITEM_WORDS = {word: f"{names.ITEM_CONTENT}__{word}" for word in ("category", "subcategory", "brand")}
# Candidates the ranker scores alike are ordered by one Feast item feature (the ranker's score is
# coarse: a handful of distinct values among a search's 100 candidates). Which one is a choice
# made on validation searches (``SearchRankerConfig.tie_break``); "" keeps retrieval order.
TIE_BREAK_CANDIDATES = ("", *(f"{names.ITEM_STATS}__{f}" for f in names.FEATURES[names.ITEM_STATS][1]))


def tokens(column: str) -> pl.Expr:
    """Lower-case words, a plural's trailing s dropped (``cookbooks`` matches ``cookbook``)."""
    words = pl.col(column).fill_null("").str.to_lowercase().str.extract_all(r"[a-z0-9]+")
    return words.list.eval(pl.element().str.replace(r"(\w{3,})s$", "$1"))


def _contained(column: str) -> pl.Expr:
    """1 when every token of ``column`` appears in the query (0 for an empty column)."""
    words = tokens(column)
    return ((words.list.len() > 0) & (words.list.set_difference(tokens("query")).list.len() == 0)).cast(pl.Float64)


def query_item_features(pairs: pl.DataFrame) -> pl.DataFrame:
    """``pairs`` with the QUERY_ITEM_FEATURES columns added (``cosine`` is passed through)."""
    query, title = tokens("query"), tokens("title")
    shared = title.list.set_intersection(query).list.len().cast(pl.Float64)
    return pairs.with_columns(
        (shared / query.list.len().clip(1)).alias("title_overlap"),        # share of the query in the title
        (shared / title.list.len().clip(1)).alias("title_coverage"),       # share of the title in the query
        *(_contained(column).alias(f"{word}_in_query") for word, column in ITEM_WORDS.items()),
    )


def ranking(scores: np.ndarray, tie_break: np.ndarray | None = None) -> np.ndarray:
    """The order of a search's candidates (given in retrieval order), best first: by score, equal
    scores by ``tie_break`` (the chosen feature's values, larger first, missing ones last; None:
    none), then as retrieved."""
    tie_break = (np.zeros(len(scores)) if tie_break is None
                 else np.nan_to_num(np.asarray(tie_break, dtype=float), nan=-np.inf))
    return np.lexsort((np.arange(len(scores)), -tie_break, -np.asarray(scores, dtype=float)))
