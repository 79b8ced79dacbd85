"""The elasticity estimate on synthetic category panels: exact where the model is exact, day-wide
shocks and each category's level drop out, and noisy panels are recovered within their intervals."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from feature_repo.definitions import names
from training.tasks.price_elasticity import (CATEGORY, DAY, DIFFERENCES, LEVELS, PRICE, PROMO, UNITS,
                                            PriceElasticityConfig, against_truth, category_days, estimate)

TRUE = {"a": -0.6, "b": -1.5, "c": -2.4}


def panel(days: int, noise: float, seed: int = 0) -> pl.DataFrame:
    """Log units = the category's level + a shock every category shares that day (a trend and a
    season) + elasticity x log price index (a random walk of steps, as supplier rises are)."""
    rng = np.random.default_rng(seed)
    shared = np.cumsum(rng.normal(0, 0.05, days)) + 0.3 * np.sin(np.arange(days) / 9)
    frames = []
    for level, (category, elasticity) in enumerate(TRUE.items()):
        index = np.cumsum(np.where(rng.random(days) < 0.08, rng.normal(0, 0.1, days), 0.0))
        log_units = 3 + level + shared + elasticity * index + rng.normal(0, noise, days)
        frames.append(pl.DataFrame({names.CATEGORY: category, DAY: [date(2026, 1, 1) + timedelta(d) for d in range(days)],
                                    "log_units": log_units, "log_index": index, "promo": np.zeros(days)}))
    return pl.concat(frames)


def test_without_noise_the_differences_recover_each_elasticity_exactly():
    found = estimate(panel(120, noise=0.0), PriceElasticityConfig(control_promotions=False))
    for category, elasticity in TRUE.items():
        assert found[category]["estimate"] == pytest.approx(elasticity, abs=1e-9)


def test_shared_shocks_bias_the_levels_but_not_the_differences():
    """Over a few noisy panels: the differences are unbiased and their 95% intervals cover the
    truth about as often as they say; the levels, which mistake the shared trend for price, miss."""
    errors, covered, levels = [], [], []
    for seed in range(5):
        found = estimate(panel(400, noise=0.15, seed=seed), PriceElasticityConfig())
        table = against_truth({c: {**r, "truth": TRUE[c]} for c, r in found.items()}, z=1.96)
        errors += [found[c]["estimate"] - TRUE[c] for c in TRUE]
        covered.append(table[DIFFERENCES]["coverage"])
        levels.append(table[LEVELS]["mae"])
    assert abs(np.mean(errors)) < 0.1 and np.mean(np.abs(errors)) < 0.25
    assert np.mean(covered) >= 0.75
    assert np.mean(levels) > 2 * np.mean(np.abs(errors))


def test_without_truth_only_the_spread_is_reported():
    found = estimate(panel(100, noise=0.1), PriceElasticityConfig())
    table = against_truth({c: {**r, "truth": float("nan")} for c, r in found.items()}, z=1.96)
    assert np.isnan(table[DIFFERENCES]["mae"]) and table[DIFFERENCES]["mean_se"] > 0


def test_the_index_weighs_items_by_their_units_and_a_shop_without_categories_is_refused():
    day = date(2026, 3, 1)
    rows = pl.DataFrame({names.ITEM_ID: [1, 2, 3, 1, 2, 3], UNITS: [3.0, 0.0, 1.0, 1.0, 0.0, 1.0],
                         PRICE: [1.0, 2.0, 1.5, 1.1, 2.0, None], PROMO: [0.0, 1.0, 0.0, 0.0, 1.0, 0.0],
                         CATEGORY: ["a", "a", "b", "a", "a", "b"], DAY: [day, day, day] + [day + timedelta(1)] * 3})
    frame = category_days(rows)
    first = frame.filter((pl.col(names.CATEGORY) == "a") & (pl.col(DAY) == day)).row(0, named=True)
    assert first["units"] == 3.0 and np.exp(first["log_index"]) == pytest.approx((5 * 1.0 + 1 * 2.0) / 6)
    assert first["promo"] == pytest.approx(1 / 6)
    assert frame.filter(pl.col(names.CATEGORY) == "b").height == 1          # no price on its second day
    with pytest.raises(ValueError, match="need a category"):
        category_days(rows.with_columns(pl.lit(None, dtype=pl.String).alias(CATEGORY)))


def test_the_advice_moves_only_categories_sure_of_their_side_of_minus_one():
    from training.price_advice import category_moves, expected_change

    found = {"elastic": {"low": -2.5, "high": -1.2}, "inelastic": {"low": -0.9, "high": -0.3},
             "unsure": {"low": -1.4, "high": -0.7}}
    assert category_moves(found, 0.1, allow_rises=True) == {"elastic": 0.9, "inelastic": 1.1, "unsure": 1.0}
    assert category_moves(found, 0.1, allow_rises=False)["inelastic"] == 1.0
    units, revenue = expected_change(0.9, -2.0)
    assert units == pytest.approx(0.9 ** -2 - 1) and revenue == pytest.approx(0.9 ** -1 - 1) and revenue > 0
