"""Off-policy evaluation of an ad policy from the slot log, judged by the what-if shop.

A policy fills a share of the slots from the ads of the page's category and the rest from every
ad, each uniformly (the simulator's family of policies; the logged one fills half and half). Its
value: clicks and conversions (the session bought the ad's item after the slot) per 1,000 shown
slots. Every shown slot of the window logs its page's category and the propensity with which the
logging policy chose its ad there, so for a new policy ``pi``, with ``w = pi(ad | page) /
propensity`` and ``q(ad, page)`` a reward model fitted on the slots before the window:

- **IPS**: the mean of ``w * reward``; unbiased when every ad the new policy picks could be logged.
- **Direct method** (DM): the mean over slots of ``sum_a pi(a | page) q(a, page)``; no variance
  from the weights, all the bias of ``q``.
- **Doubly robust** (DR): DM plus the mean of ``w * (reward - q(ad, page))``: unbiased when either
  the propensities or ``q`` are right, with less variance than IPS when ``q`` is good.

Intervals by bootstrap over the window's slots. ``q`` is the (ad, page category) rate shrunk to the
ad's rate, shrunk in turn to the log's (``SMOOTHING`` slots of prior weight each). The what-if shop
(``simulator.whatif``) runs the shop on from the end of the data under the policy, on the same
random numbers as the status quo, which is the truth the estimates are judged by.
"""

from __future__ import annotations

import numpy as np
import polars as pl

REWARDS = ("clicked", "converted")
SMOOTHING = 20.0


def reward_model(before: pl.DataFrame, n_ads: int, n_categories: int, reward: str) -> np.ndarray:
    """``q[ad, page]``: the reward rate of each (ad, page category) on the earlier shown slots,
    shrunk to the ad's own rate, shrunk to the overall rate."""
    ad, page = before["ad"].to_numpy(), before["page"].to_numpy()
    hits = before[reward].to_numpy().astype(float)
    overall = hits.mean() if len(hits) else 0.0
    ad_hits, ad_slots = np.bincount(ad, hits, n_ads), np.bincount(ad, minlength=n_ads)
    per_ad = (ad_hits + SMOOTHING * overall) / (ad_slots + SMOOTHING)
    cell = ad * n_categories + page
    cell_hits = np.bincount(cell, hits, n_ads * n_categories).reshape(n_ads, n_categories)
    cell_slots = np.bincount(cell, minlength=n_ads * n_categories).reshape(n_ads, n_categories)
    return (cell_hits + SMOOTHING * per_ad[:, None]) / (cell_slots + SMOOTHING)


def off_policy_values(window: pl.DataFrame, before: pl.DataFrame, ad_category: np.ndarray, n_categories: int,
                      targeted_share: float, bootstrap: int, confidence: float, seed: int) -> dict[str, dict[str, float]]:
    """Per estimator (IPS, DM, DR, and the log's own value), each reward per 1,000 shown slots of
    the policy of ``targeted_share``, with bootstrap intervals. ``window`` and ``before``: shown
    slots with ``ad`` and ``page`` codes, ``propensity`` and the rewards."""
    from shopml.warehouse.simulator.ads import ad_propensity     # the rule the log's propensities follow

    n_ads = len(ad_category)
    ad, page = window["ad"].to_numpy(), window["page"].to_numpy()
    w = ad_propensity(ad, page, ad_category, targeted_share) / window["propensity"].to_numpy()
    # pi(a | page) for every ad and page category: the DM's expectation over the new policy's choices
    every_ad = np.arange(n_ads)
    pi = np.stack([ad_propensity(every_ad, np.full(n_ads, c), ad_category, targeted_share)
                   for c in range(n_categories)], axis=1)                                  # (ads, categories)
    rows = np.random.default_rng(seed).integers(0, len(ad), size=(bootstrap, len(ad)))
    tails = (100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2)
    out: dict[str, dict[str, float]] = {name: {} for name in ("logged policy, on the log", "IPS", "DM", "DR")}
    for reward in REWARDS:
        r = window[reward].to_numpy().astype(float)
        q = reward_model(before, n_ads, n_categories, reward)
        direct = (pi * q).sum(axis=0)[page]                                  # per slot: E_pi q(., page)
        per_slot = {"logged policy, on the log": r, "IPS": w * r, "DM": direct, "DR": direct + w * (r - q[ad, page])}
        for name, values in per_slot.items():
            low, high = np.percentile(1000 * values[rows].mean(axis=1), tails)
            out[name] |= {f"{reward}_per_1000": 1000 * float(values.mean()), f"{reward}_per_1000_low": float(low),
                          f"{reward}_per_1000_high": float(high)}
    return out


def arm_rates(runs: list, confidence: float) -> dict[str, float]:
    """Each reward per 1,000 shown slots of a what-if arm: the mean over its futures, with its interval."""
    from scipy import stats

    t = float(stats.t.ppf(0.5 + confidence / 2, max(len(runs) - 1, 1)))
    row = {}
    for reward, measure in zip(REWARDS, ("ad_clicks", "ad_conversions")):
        rates = np.array([1000 * getattr(run, measure) / max(run.ad_slots_shown, 1) for run in runs])
        half = t * rates.std(ddof=1) / np.sqrt(len(rates)) if len(rates) > 1 else float("nan")
        row |= {f"{reward}_per_1000": float(rates.mean()), f"{reward}_per_1000_low": float(rates.mean() - half),
                f"{reward}_per_1000_high": float(rates.mean() + half)}
    return row
