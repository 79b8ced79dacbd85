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
