"""The holdout estimator by hand: clicks per 1,000 shown slots, the shown conversion rate less
the held-out one, and bootstrap intervals as wide as the binomial standard errors say."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from training.tasks.ad_incrementality import estimate, grouped


def test_estimates_and_their_intervals():
    counts = pl.DataFrame({"shown": [10_000, 0], "held_out": [2_000, 50], "clicks": [900, 0],
                           "shown_conversions": [80, 0], "held_out_conversions": [6, 1]})
    found = estimate(counts, bootstrap=4000, confidence=0.95, seed=1)
    assert found["clicks_per_1000"][0] == pytest.approx(90.0)
    assert found["incremental_conversions_per_1000"][0] == pytest.approx(8.0 - 3.0)
    se = 1000 * np.sqrt(0.008 * 0.992 / 10_000 + 0.003 * 0.997 / 2_000)
    width = found["incremental_conversions_per_1000_high"][0] - found["incremental_conversions_per_1000_low"][0]
    assert width == pytest.approx(2 * 1.96 * se, rel=0.1)
    assert np.isnan(found["clicks_per_1000"][1]) and np.isnan(found["clicks_per_1000_low"][1])   # never shown


def test_grouping_sums_the_counts_and_weighs_the_truth_by_slots():
    per_ad = pl.DataFrame({"ad_id": [1, 2, 3], "campaign": ["a", "a", "b"], "shown": [90, 30, 10],
                           "held_out": [10, 0, 0], "clicks": [9, 3, 1], "shown_conversions": [1, 0, 0],
                           "held_out_conversions": [0, 0, 0], "true_click_rate": [0.1, 0.2, 0.3]})
    by_campaign = grouped(per_ad, "campaign")
    assert by_campaign["shown"].to_list() == [120, 10]
    assert by_campaign["true_click_rate"].to_list() == pytest.approx([(0.1 * 100 + 0.2 * 30) / 130, 0.3])
    assert grouped(per_ad, None)["clicks"].to_list() == [13]


def test_off_policy_estimates_recover_a_new_policys_value_from_a_logged_one():
    """Two categories of two ads each; an ad clicks at its own rate, doubled on a page of its own
    category and halved elsewhere. Logged: half the slots from the page's category; the new
    policy: all. IPS, DM and DR land on the true value, which differs from the log's."""
    from shopml.warehouse.simulator.ads import ad_propensity
    from training.ad_policies import off_policy_values

    rng = np.random.default_rng(3)
    ad_category, rate = np.array([0, 0, 1, 1]), np.array([0.30, 0.10, 0.02, 0.20])
    n = 60_000
    page = rng.integers(0, 2, n)
    targeted = rng.random(n) < 0.5
    ad = np.where(targeted, 2 * page + rng.integers(0, 2, n), rng.integers(0, 4, n))
    propensity = ad_propensity(ad, page, ad_category, 0.5)
    clicked = (rng.random(n) < rate[ad] * np.where(ad_category[ad] == page, 2.0, 0.5)).astype(int)
    slots = pl.DataFrame({"ad": ad, "page": page, "propensity": propensity, "clicked": clicked, "converted": clicked})
    found = off_policy_values(slots[n // 2:], slots[:n // 2], ad_category, 2, 1.0, bootstrap=300, confidence=0.95, seed=1)
    truth = 1000 * np.mean([rate[0] + rate[1], rate[2] + rate[3]])                       # 310 per 1,000
    logged = found["logged policy, on the log"]["clicked_per_1000"]
    assert abs(logged - truth) > 20                                                       # the log alone misleads
    for estimator in ("IPS", "DR", "DM"):
        row = found[estimator]
        assert row["clicked_per_1000_low"] - 3 <= truth <= row["clicked_per_1000_high"] + 3, (estimator, row)
