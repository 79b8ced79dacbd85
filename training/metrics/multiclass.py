"""Multiclass metrics (a review's sentiment class, a product's category), as pure functions of
the true classes and the predicted classes or class probabilities."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score

EPSILON = 1e-15


def accuracy(truth, predicted) -> float:
    return float(np.mean(np.asarray(truth) == np.asarray(predicted)))


def macro_f1(truth, predicted) -> float:
    """The unweighted mean of each class's F1 over the classes present in either array, so a
    rare class counts as much as a common one."""
    return float(f1_score(truth, predicted, average="macro", zero_division=0.0))


def multiclass_log_loss(truth_index, probabilities) -> float:
    """Mean -log p(true class); ``probabilities`` is (rows, classes), ``truth_index`` the column
    of each row's class. Probabilities are clipped to [EPSILON, 1]."""
    p = np.asarray(probabilities, dtype=float)
    chosen = p[np.arange(len(p)), np.asarray(truth_index)]
    return float(-np.mean(np.log(np.clip(chosen, EPSILON, 1.0))))
