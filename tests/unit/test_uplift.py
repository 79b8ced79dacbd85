"""The uplift learners' judge and the learners themselves on a synthetic randomised campaign whose
true uplift is known: the expected Qini orders scores as their true uplift does, and both
learners find the users who gain more than a propensity ranking does; plans within their budgets,
and the push harm's split by send day."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest

from feature_repo.definitions import names
from shopml.matrix import FeatureLayout
from training.campaign_plan import plan
from training.campaigns import harm_split
from training.labels import CUTOFF
from training.uplift import (OUTCOME, T_LEARNER, TREATED, X_LEARNER, UpliftConfig, expected_gain_chart, fit_uplift,
                             true_qini, true_qini_difference, uplift_figures)


def test_the_expected_qini_difference_of_two_rankings_has_a_paired_interval():
    rng = np.random.default_rng(3)
    truth = rng.random(2_000) * 0.1
    better, worse = truth + rng.normal(0, 0.01, 2_000), truth + rng.normal(0, 0.2, 2_000)
    lead = true_qini_difference(truth, better, worse, 1.0, draws=100)
    assert lead["difference"] == pytest.approx(true_qini(truth, better) - true_qini(truth, worse))
    assert 0 < lead["low"] < lead["difference"] < lead["high"]
    same = true_qini_difference(truth, better, better.copy(), 1.0, draws=20)
    assert same == {"difference": 0.0, "low": 0.0, "high": 0.0}


def test_the_expected_gain_chart_draws_each_score_up_to_its_total():
    truth = np.array([0.3, 0.1, 0.0, -0.2])
    svg = expected_gain_chart(truth, {"oracle": truth, "model": -truth}, "buyers", "sends")
    assert svg.count("<polyline") == 2 and "Expected incremental buyers" in svg
    assert ">oracle<" in svg and ">model<" in svg


def test_true_qini_by_hand_and_its_order():
    truth = np.array([0.3, 0.1, 0.0, -0.2])
    # the oracle's curve: 0, .3, .4, .4, .2 at shares 0, .25, .5, .75, 1; area .25 * (.15 + .35 + .4 + .3) = .3
    assert true_qini(truth, truth) == pytest.approx(0.3 - 0.2 / 2)
    assert true_qini(truth, -truth) < 0 < true_qini(truth, truth)
    assert true_qini(truth, np.zeros(4)) == pytest.approx(0.0)                 # one tie: random targeting
    assert true_qini(truth, truth, treated_share=0.5) == pytest.approx(0.1)


def campaign(n: int, seed: int) -> pl.DataFrame:
    """Buyers by habit (``x__habit``) gain nothing from a send; the coupon-minded (``x__minded``) do."""
    rng = np.random.default_rng(seed)
    habit, minded = rng.random(n), rng.random(n)
    treated = rng.random(n) < 0.5
    p = 0.05 + 0.4 * habit ** 3 + treated * 0.25 * (minded > 0.7)
    return pl.DataFrame({"x__habit": habit, "x__minded": minded, TREATED: treated.astype(int),
                         OUTCOME: (rng.random(n) < p).astype(int), "truth": 0.25 * (minded > 0.7)})


@pytest.mark.parametrize("learner", [T_LEARNER, X_LEARNER])
def test_the_learners_find_who_gains_where_propensity_finds_who_buys_anyway(learner):
    train, valid, test = campaign(20_000, 1), campaign(5_000, 2), campaign(10_000, 3)
    layout = FeatureLayout(numeric=("x__habit", "x__minded"), categorical={})
    model = fit_uplift(UpliftConfig(min_data_in_leaf=50), layout, train, valid, learner)
    table = uplift_figures(test[OUTCOME].to_numpy(), test[TREATED].to_numpy(),
                           {"model": model.uplift(test), "propensity": model.purchase(test),
                            "oracle": test["truth"].to_numpy()})
    assert table["model"]["share_of_oracle_true_qini"] > 0.8
    assert table["propensity"]["share_of_oracle_true_qini"] < 0.3


def test_a_plan_spends_its_budget_on_the_best_gains_above_zero_and_spares_the_put_off():
    uplift = np.array([0.02, 0.3, -0.1, 0.1, 0.0, 0.2])
    assert plan(uplift, 3).tolist() == [1, 5, 3]
    assert plan(uplift, 10).tolist() == [1, 5, 3, 0]                       # never a gain of 0 or less
    assert plan(uplift, 3, put_off=np.array([0, 0, 0, 0, 0, 1], dtype=bool)).tolist() == [1, 3, 0]
    assert plan(uplift, 0).tolist() == []


def test_a_cost_budget_takes_the_most_uplift_per_cost_that_fits():
    uplift = np.array([0.30, 0.20, 0.04, 0.10, -0.1])
    cost = np.array([3.0, 1.0, 0.5, 2.0, 0.1])
    # uplift per cost: 0.1, 0.2, 0.08, 0.05 (the negative never): order 1, 0, 2, 3
    assert plan(uplift, 10, cost=cost, max_cost=4.5).tolist() == [1, 0, 2]        # 1 + 3 + 0.5
    assert plan(uplift, 10, cost=cost, max_cost=3.0).tolist() == [1, 2]            # 0 does not fit, 2 does
    assert plan(uplift, 1, cost=cost, max_cost=100.0).tolist() == [1]              # the count budget still holds
    assert plan(uplift, 10, cost=cost, max_cost=0.0).tolist() == []


def test_the_harms_split_leaves_a_label_window_between_its_parts():
    """Weekly sends with a 30-day label: test the latest send day, validation the latest day whose
    label ends by the test day (the four days between are purged), train the days before it whose
    labels end by the validation day."""
    days = [datetime(2026, 1, 5, tzinfo=timezone.utc) + timedelta(weeks=w) for w in range(14)]
    rows = pl.DataFrame({CUTOFF: days, names.EVENT_TIMESTAMP: days})
    splits = harm_split(rows, validation_sends=1, test_sends=1, horizon=timedelta(days=30))
    assert splits["test"][CUTOFF].to_list() == [days[13]]
    assert splits["validation"][CUTOFF].to_list() == [days[8]]              # 8 + 30 days <= 13 weeks, 9 is not
    assert splits["train"][CUTOFF].to_list() == days[:4]                   # 3 weeks + 30 days <= 8 weeks
    with pytest.raises(ValueError, match="too few"):
        harm_split(rows.head(5), validation_sends=1, test_sends=1, horizon=timedelta(days=30))
