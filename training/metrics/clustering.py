"""Clustering and embedding metrics: how well segments separate (silhouette), how well they
recover known groups (ARI, NMI, against the simulator's hidden traits where they exist), and how
much of a hidden trait a vector carries (a linear probe's R² on held-out rows)."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, r2_score, silhouette_score

SILHOUETTE_SAMPLE = 10_000      # silhouette costs rows^2: larger inputs are scored on a seeded sample


def silhouette(vectors, labels, seed: int = 0) -> float:
    """Mean silhouette of the rows (-1 to 1; higher: tighter, better separated segments)."""
    vectors, labels = np.asarray(vectors, dtype=float), np.asarray(labels)
    size = min(len(labels), SILHOUETTE_SAMPLE)
    return float(silhouette_score(vectors, labels, sample_size=size, random_state=seed))


def adjusted_rand(truth, predicted) -> float:
    """Agreement of two partitions, 0 for chance and 1 for identical (up to relabelling)."""
    return float(adjusted_rand_score(truth, predicted))


def normalized_mutual_info(truth, predicted) -> float:
    return float(normalized_mutual_info_score(truth, predicted))


def probe_r2(train_vectors, train_target, test_vectors, test_target) -> float:
    """R² on held-out rows of a ridge regression (penalty by cross-validation on the training
    rows) from the vectors to a trait: how linearly readable the trait is from the embedding. A
    trait of several columns (rows x columns) gets one probe per column, each with its own
    penalty, fitted at once, and the mean of their R²."""
    probe = RidgeCV(alphas=np.logspace(-3, 3, 13), alpha_per_target=np.ndim(train_target) > 1)
    probe.fit(np.asarray(train_vectors), np.asarray(train_target))
    return float(r2_score(test_target, probe.predict(np.asarray(test_vectors)), multioutput="uniform_average"))
