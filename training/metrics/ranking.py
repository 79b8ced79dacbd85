"""Ranking metrics of one ranked list against graded relevance, as pure NumPy functions; a task
averages them over its queries (searches, users). ``ranked_frame_quality`` gives the same means
for many queries at once, from frames."""

from __future__ import annotations

import numpy as np
import polars as pl


def dcg_at_k(grades, k: int) -> float:
    """Discounted cumulative gain of graded results in ranked order: sum (2^g - 1) / log2(rank + 1)."""
    gains = np.asarray(grades, dtype=float)[:k]
    return float(((2.0 ** gains - 1) / np.log2(np.arange(2, len(gains) + 2))).sum())


def ndcg_at_k(ranked_grades, all_grades, k: int) -> float:
    """DCG@k of the ranking over that of the best possible ranking of every graded item
    (``all_grades``: the grades of all relevant items, in any order); nan when none is relevant."""
    ideal = dcg_at_k(np.sort(np.asarray(all_grades, dtype=float))[::-1], k)
    return dcg_at_k(ranked_grades, k) / ideal if ideal > 0 else float("nan")


def recall_at_k(ranked_relevant, total_relevant: int, k: int) -> float:
    """Share of the relevant items found in the top k (``ranked_relevant``: 0/1 in ranked order)."""
    return float(np.sum(np.asarray(ranked_relevant)[:k]) / total_relevant) if total_relevant else float("nan")


def hit_rate_at_k(ranked_relevant, k: int) -> float:
    """1 when any relevant item is in the top k, else 0 (``ranked_relevant``: 0/1 in ranked order)."""
    return float(np.any(np.asarray(ranked_relevant)[:k]))


def reciprocal_rank(ranked_relevant) -> float:
    """1 / the rank of the first relevant item, 0 when none is; averaged over queries it is MRR."""
    hits = np.flatnonzero(np.asarray(ranked_relevant))
    return 1.0 / (hits[0] + 1) if len(hits) else 0.0


def ndcg_rows(gains, scores, k: int) -> float:
    """Mean NDCG@k over rows (users): each row's columns (categories) ranked by ``scores``, largest
    first, graded by ``gains`` (e.g. a hidden taste); ties keep column order."""
    gains, scores = np.asarray(gains, dtype=float), np.asarray(scores, dtype=float)
    order = np.argsort(-scores, axis=1, kind="stable")
    ranked = np.take_along_axis(gains, order, axis=1)
    return float(np.nanmean([ndcg_at_k(r, g, k) for r, g in zip(ranked, gains)]))


def spearman_rows(truth, scores) -> float:
    """Mean over rows of Spearman's rank correlation between ``truth`` and ``scores`` (average
    ranks for ties); a row whose scores are all equal orders nothing and counts as 0."""
    from scipy.stats import rankdata

    a, b = rankdata(np.asarray(truth, dtype=float), axis=1), rankdata(np.asarray(scores, dtype=float), axis=1)
    a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    norm = np.sqrt((a ** 2).sum(axis=1) * (b ** 2).sum(axis=1))
    return float(np.mean(np.divide((a * b).sum(axis=1), norm, out=np.zeros(len(a)), where=norm > 0)))


def ranked_frame_quality(ranked: pl.DataFrame, grades: pl.DataFrame, query: str, item: str, k: int, depth: int,
                         relevant: int) -> dict[str, float]:
    """Mean NDCG@k and recall@depth over the queries of ``ranked`` (query, item, ``rank`` from 1)
    that have a graded item in ``grades`` (query, item, ``grade`` > 0); recall counts items of
    grade >= ``relevant`` and skips queries without one. The same figures as ``ndcg_at_k`` and
    ``recall_at_k`` per query, for many queries at once."""
    judged = ranked.join(grades, on=[query, item], how="left").with_columns(pl.col("grade").fill_null(0))
    gain = (pl.lit(2.0).pow(pl.col("grade")) - 1) / (pl.col("rank") + 1).log(2)
    dcg = judged.filter(pl.col("rank") <= k).group_by(query).agg(gain.sum().alias("dcg"))
    found = judged.filter((pl.col("rank") <= depth) & (pl.col("grade") >= relevant)).group_by(query).agg(
        pl.len().alias("found"))
    ideal = grades.join(ranked.select(query).unique(), on=query).with_columns(
        pl.col("grade").rank("ordinal", descending=True).over(query).alias("rank"))
    per_query = ideal.group_by(query).agg(gain.filter(pl.col("rank") <= k).sum().alias("ideal"),
                                          (pl.col("grade") >= relevant).sum().alias("total")).join(
        dcg, on=query, how="left").join(found, on=query, how="left").fill_null(0)
    with_relevant = per_query.filter(pl.col("total") > 0)
    return {"ndcg": float((per_query["dcg"] / per_query["ideal"]).mean()) if per_query.height else float("nan"),
            "recall": float((with_relevant["found"] / with_relevant["total"]).mean()) if with_relevant.height
            else float("nan"),
            "queries": float(per_query.height)}
