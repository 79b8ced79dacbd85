"""Ranking metrics of one ranked list against graded relevance, as pure NumPy functions; a task
averages them over its queries (searches, users)."""

from __future__ import annotations

import numpy as np


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
