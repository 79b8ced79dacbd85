"""The next view's category: the stay baseline and the per-step normalisation, exact values."""

import numpy as np

from training.next_category import per_step, stay_baseline


def test_the_stay_baseline_keeps_the_latest_category_and_spreads_the_rest_by_shares():
    shares = np.array([0.5, 0.3, 0.2])
    p = stay_baseline(["b", None, "unknown", "a"], ["a", "b", "c"], 0.8, shares)
    np.testing.assert_allclose(p, [[0.1, 0.86, 0.04], shares, shares, [0.9, 0.06, 0.04]])


def test_candidate_scores_become_a_distribution_per_step():
    np.testing.assert_allclose(per_step(np.array([1.0, 3.0, 2.0, 2.0]), 2), [[0.25, 0.75], [0.5, 0.5]])
