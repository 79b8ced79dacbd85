"""Uplift metrics of a targeting score on randomised sends, as pure functions of (outcome,
treated, score): who gains from a coupon or a push, not who buys anyway.

Targeting the top share of users by score, the incremental outcomes are the treated positives
minus the control positives scaled to the treated count (Radcliffe's Qini). The Qini curve runs
from (0, 0) to (1, total increment); the Qini coefficient is the area between it and the line of
random targeting, and AUUC the area under the uplift curve (the per-user uplift of the top share
times the share). Ties in score are taken together, so the figures do not depend on row order.
"""

from __future__ import annotations

import numpy as np


def _sorted_groups(outcome, treated, score):
    y, t, s = (np.asarray(a, dtype=float) for a in (outcome, treated, score))
    order = np.argsort(-s, kind="stable")
    y, t, s = y[order], t[order], s[order]
    last_of_tie = np.r_[s[1:] != s[:-1], True]
    cum = lambda values: np.cumsum(values)[last_of_tie]     # noqa: E731 - per tie group, cumulated
    return cum(t), cum(1 - t), cum(y * t), cum(y * (1 - t)), len(y)


def qini_curve(outcome, treated, score) -> tuple[np.ndarray, np.ndarray]:
    """(share targeted, incremental positives) at each distinct score, starting at (0, 0)."""
    n_t, n_c, y_t, y_c, n = _sorted_groups(outcome, treated, score)
    increment = y_t - y_c * np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c > 0)
    return np.r_[0.0, (n_t + n_c) / n], np.r_[0.0, increment]


def qini_coefficient(outcome, treated, score) -> float:
    """Area between the Qini curve and the random-targeting line (the same total increment, reached
    evenly); 0 for a score that orders at random, negative for one that targets the wrong users."""
    share, increment = qini_curve(outcome, treated, score)
    return float(np.trapezoid(increment, share) - increment[-1] / 2)


def uplift_curve(outcome, treated, score) -> tuple[np.ndarray, np.ndarray]:
    """(share targeted, uplift of the targeted x share): treated minus control positive rate among
    the top share, times the share."""
    n_t, n_c, y_t, y_c, n = _sorted_groups(outcome, treated, score)
    rate_t = np.divide(y_t, n_t, out=np.zeros_like(y_t), where=n_t > 0)
    rate_c = np.divide(y_c, n_c, out=np.zeros_like(y_c), where=n_c > 0)
    share = (n_t + n_c) / n
    return np.r_[0.0, share], np.r_[0.0, (rate_t - rate_c) * share]


def auuc(outcome, treated, score) -> float:
    """Area under the uplift curve."""
    share, gain = uplift_curve(outcome, treated, score)
    return float(np.trapezoid(gain, share))


def uplift_at_share(outcome, treated, score, share: float) -> float:
    """Treated minus control positive rate among the top ``share`` of users by score (ties at the
    cut taken whole); nan when the top share holds no treated or no control user."""
    y, t, s = (np.asarray(a, dtype=float) for a in (outcome, treated, score))
    threshold = np.sort(s)[::-1][max(int(np.ceil(share * len(s))) - 1, 0)]
    top = s >= threshold
    treated_top, control_top = top & (t == 1), top & (t == 0)
    if not treated_top.any() or not control_top.any():
        return float("nan")
    return float(y[treated_top].mean() - y[control_top].mean())
