"""Evaluation metrics for binary outcomes, as pure NumPy functions of (labels, scores).

Every metric is exact for ties and checked against exact hand-computed values and against
scikit-learn in the tests. Probabilities are clipped to [EPSILON, 1 - EPSILON] in the log loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPSILON = 1e-15


def _arrays(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=float)
    p = np.asarray(scores, dtype=float)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"labels and scores must be 1-d and of one length, got {y.shape} and {p.shape}")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1")
    return y, p


def roc_auc(labels, scores) -> float:
    """P(score of a random positive > score of a random negative), ties counting one half."""
    y, p = _arrays(labels, scores)
    positives, negatives = y.sum(), len(y) - y.sum()
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    sorted_scores = p[order]
    # average rank within each block of tied scores
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(p)]
    average = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(average, ends - starts)
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def average_precision(labels, scores) -> float:
    """Area under the precision-recall curve as the mean precision at each positive's threshold
    (tied scores form one threshold), as scikit-learn's ``average_precision_score``."""
    y, p = _arrays(labels, scores)
    if y.sum() == 0:
        return float("nan")
    order = np.argsort(-p, kind="mergesort")
    y_sorted, p_sorted = y[order], p[order]
    last_of_tie = np.r_[p_sorted[1:] != p_sorted[:-1], True]
    true_positives = np.cumsum(y_sorted)[last_of_tie]
    predicted = (np.arange(1, len(y) + 1))[last_of_tie]
    precision = true_positives / predicted
    recall_gain = np.diff(np.r_[0.0, true_positives]) / y.sum()
    return float((precision * recall_gain).sum())


def log_loss(labels, probabilities) -> float:
    y, p = _arrays(labels, probabilities)
    p = np.clip(p, EPSILON, 1 - EPSILON)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def auc_skill(auc: float, oracle_auc: float) -> float:
    """How much of the oracle's lead over a coin a scorer wins: (AUC - 0.5) / (oracle AUC - 0.5).
    1 is the oracle, 0 a coin, below 0 worse than a coin; nan when the oracle is no better than
    a coin. A plain ratio of AUCs flatters: a coin scores 0.5 / 0.8 = 0.62 of a 0.8 oracle."""
    lead = oracle_auc - 0.5
    return float((auc - 0.5) / lead) if lead > 0 else float("nan")


def auc_difference_se(labels, scores_a, scores_b, resamples: int = 200, seed: int = 0) -> float:
    """Standard error of AUC(a) - AUC(b) on the same rows: the spread of the difference over
    ``resamples`` paired bootstrap resamples of the rows (seeded)."""
    y = np.asarray(labels, dtype=float)
    a, b = np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
    rng = np.random.default_rng(seed)
    differences = []
    for _ in range(resamples):
        rows = rng.integers(0, len(y), len(y))
        differences.append(roc_auc(y[rows], a[rows]) - roc_auc(y[rows], b[rows]))
    return float(np.nanstd(differences, ddof=1))


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    count: int
    mean_predicted: float
    observed_rate: float


def reliability_table(labels, probabilities, bins: int = 10) -> list[ReliabilityBin]:
    """Equal-width probability bins (the last one closed) with their mean prediction and outcome."""
    y, p = _arrays(labels, probabilities)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    predicted = np.bincount(index, weights=p, minlength=bins)
    observed = np.bincount(index, weights=y, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return [ReliabilityBin(float(edges[b]), float(edges[b + 1]), int(count[b]),
                               float(predicted[b] / count[b]), float(observed[b] / count[b]))
                for b in range(bins)]


def expected_calibration_error(labels, probabilities, bins: int = 10) -> float:
    """Count-weighted mean |mean prediction - observed rate| over the reliability bins."""
    table = reliability_table(labels, probabilities, bins)
    total = sum(b.count for b in table)
    return float(sum(b.count * abs(b.mean_predicted - b.observed_rate) for b in table if b.count) / total)


def top_decile_lift(labels, scores, share: float = 0.1) -> float:
    """Outcome rate among the top ``share`` of scores over the overall rate (ties broken by order)."""
    y, p = _arrays(labels, scores)
    top = max(1, int(round(share * len(y))))
    chosen = np.argsort(-p, kind="mergesort")[:top]
    base = y.mean()
    return float(y[chosen].mean() / base) if base > 0 else float("nan")


def binary_report(labels, probabilities) -> dict[str, float]:
    """The headline metrics of a probability model, by name."""
    return {
        "auc": roc_auc(labels, probabilities),
        "pr_auc": average_precision(labels, probabilities),
        "log_loss": log_loss(labels, probabilities),
        "ece": expected_calibration_error(labels, probabilities),
        "top_decile_lift": top_decile_lift(labels, probabilities),
        "positive_rate": float(np.mean(labels)),
        "rows": float(len(labels)),
    }


@dataclass(frozen=True)
class Curves:
    """Points of the threshold curves, one per distinct score from the highest down, starting
    at (0, 0) for ROC and gain (nothing selected)."""

    false_positive_rate: np.ndarray
    true_positive_rate: np.ndarray     # = recall
    precision: np.ndarray              # at each threshold (not defined at the start)
    selected_share: np.ndarray         # share of rows scored at or above the threshold


def threshold_curves(labels, scores) -> Curves:
    """ROC (fpr, tpr), precision-recall (tpr, precision) and the cumulative gain chart
    (selected_share, tpr), with tied scores as one threshold."""
    y, p = _arrays(labels, scores)
    order = np.argsort(-p, kind="mergesort")
    y_sorted, p_sorted = y[order], p[order]
    last_of_tie = np.r_[p_sorted[1:] != p_sorted[:-1], True]
    true_positives = np.cumsum(y_sorted)[last_of_tie]
    selected = np.arange(1, len(y) + 1)[last_of_tie]
    positives, negatives = max(y.sum(), 1.0), max(len(y) - y.sum(), 1.0)
    return Curves(false_positive_rate=np.r_[0.0, (selected - true_positives) / negatives],
                  true_positive_rate=np.r_[0.0, true_positives / positives],
                  precision=np.r_[np.nan, true_positives / selected],
                  selected_share=np.r_[0.0, selected / len(y)])
