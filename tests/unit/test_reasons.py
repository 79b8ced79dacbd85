"""Reasons come from the features that really drive the model."""

import lightgbm as lgb
import numpy as np
import pandas as pd

from shopml.reasons import CAUSES, OFFSET_GRID, OTHER, REASONS, Pushes, choose_cause_offsets, explain


def test_the_driving_feature_group_is_the_top_reason():
    rng = np.random.default_rng(0)
    n = 4000
    frame = pd.DataFrame({
        "user_engagement__searches_without_click_30d": rng.poisson(1.0, n).astype(float),
        "user_activity__views_30d": rng.poisson(5.0, n).astype(float),
        "user_profile__tenure_days": rng.uniform(0, 500, n),
    })
    label = (frame["user_engagement__searches_without_click_30d"] >= 3).astype(int)   # searches alone decide
    booster = lgb.train({"objective": "binary", "verbosity": -1, "seed": 1}, lgb.Dataset(frame, label), 50)
    reasons = explain(booster, frame)
    positives = label.to_numpy() == 1
    assert np.mean(reasons.top[positives] == "searches without results") > 0.95
    assert reasons.shares.shape == (n, len(REASONS))
    sums = reasons.shares.sum(axis=1)
    assert np.allclose(sums[sums > 0], 1.0)
    assert OTHER in REASONS
    np.testing.assert_allclose(reasons.probability, booster.predict(frame), rtol=1e-12)   # contributions sum up


def test_the_symptom_is_named_only_when_no_cause_pushes_hard_enough():
    rng = np.random.default_rng(1)
    n = 4000
    frame = pd.DataFrame({
        "user_activity__days_since_last_event": rng.uniform(0, 30, n),
        "user_engagement__searches_without_click_30d": rng.poisson(1.0, n).astype(float),
    })
    inactive = frame["user_activity__days_since_last_event"] > 20
    searching = frame["user_engagement__searches_without_click_30d"] >= 3
    label = (inactive | searching).astype(int)
    booster = lgb.train({"objective": "binary", "verbosity": -1, "seed": 1}, lgb.Dataset(frame, label), 50)
    top = explain(booster, frame, dict.fromkeys(CAUSES, -0.1)).top        # a cause must push over 0.1
    assert np.mean(top[(searching & ~inactive).to_numpy()] == "searches without results") > 0.95
    assert np.mean(top[(inactive & ~searching).to_numpy()] == "inactive lately") > 0.95


def test_cause_offsets_chosen_on_recorded_causes_name_a_cause_every_user_carries():
    """A cause carried by everyone pushes little (SHAP measures from the average user); the
    offset chosen on recorded causes restores it, and never lowers agreement below no offsets."""
    rng = np.random.default_rng(2)
    n = 3000
    by_reason = np.zeros((n, len(REASONS)))
    price, search = REASONS.index("price rises in favourite categories"), REASONS.index("searches without results")
    by_reason[:, price] = rng.normal(-0.2, 0.05, n)          # the common cause: below average push
    by_reason[:, search] = rng.normal(0.0, 0.3, n)
    recorded = np.where(by_reason[:, search] > 0.3, "searches without results", "price rises in favourite categories")
    pushes = Pushes(by_reason, np.full(n, 0.5))
    offsets = choose_cause_offsets(pushes, recorded)
    assert set(offsets) == set(CAUSES) and set(offsets.values()) <= set(OFFSET_GRID.tolist())
    chosen, plain = (np.mean(pushes.top(o) == recorded) for o in (offsets, None))
    assert chosen > 0.95 > plain
