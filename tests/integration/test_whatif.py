"""The what-if shop on the tiny shop: identical policies on the same random numbers give identical
futures, a price cut sells more and keeps more customers than the status quo, and the world it
starts from is left as it was."""

from __future__ import annotations

import numpy as np
import pytest

from shopml.warehouse.simulator.oracle import replay
from shopml.warehouse.simulator.vocabulary import PUSH_CAMPAIGNS
from shopml.warehouse.simulator.whatif import STATUS_QUO, Policy, compare, run_arm, send_uplift
from tests.conftest import TINY_SHOP

CUTOFF, HORIZON = 56, 14


@pytest.fixture(scope="module")
def world():
    return replay(TINY_SHOP, CUTOFF)


def test_the_same_policy_on_the_same_stream_is_the_same_future(world):
    alive = world.state.alive.copy()
    same = Policy(prices=np.ones(world.catalog.n_items), coupons=np.arange(50), pushes=np.arange(50, 100))
    first, second = (run_arm(world, CUTOFF, HORIZON, same, stream=3) for _ in range(2))
    assert (first.units, first.revenue, first.buyers, first.coupon_cost, first.churned) == (
        second.units, second.revenue, second.buyers, second.coupon_cost, second.churned)
    assert np.array_equal(first.category_units, second.category_units)
    assert np.array_equal(world.state.alive, alive) and np.all(world.prices.policy == 1.0)
    assert not (world.state.coupon_until[:50] > CUTOFF).any() and not (world.state.push_until[50:100] > CUTOFF).any()


def test_a_price_cut_sells_more_and_its_difference_has_an_interval(world):
    table = compare(world, CUTOFF, HORIZON, {"cut": Policy(prices=np.full(world.catalog.n_items, 0.8))}, seeds=4)
    assert table[STATUS_QUO]["units_change"] == 0.0
    cut = table["cut"]
    assert cut["units_change_low"] > 0 and cut["units_change_low"] <= cut["units_change"] <= cut["units_change_high"]
    assert cut["churned_change"] <= 0                     # a cut is no rise to remember
    assert cut["value_change"] == pytest.approx(cut["revenue_change"] - cut["lifetime_value"] * cut["churned_change"])


def test_coupons_cost_discounts_and_bring_buyers(world):
    live = np.flatnonzero(world.state.alive & (world.population.signup_day < CUTOFF))
    table = compare(world, CUTOFF, HORIZON, {"coupons": Policy(coupons=live, coupon_discount=0.2)}, seeds=4)
    coupons = table["coupons"]
    assert table[STATUS_QUO]["coupon_cost"] >= 0 and coupons["coupon_cost_change"] > 0
    assert coupons["buyers_change_low"] > 0


@pytest.mark.slow
def test_the_best_push_campaign_for_each_user_beats_any_one_campaign(world):
    """Campaigns move different users (``campaigns.campaign_effect``), so sending each of the fifth
    of users it helps most the campaign that truly helps them most gains more buyers than any one
    campaign sent to the fifth it helps most; and no one campaign is everyone's best."""
    users = np.flatnonzero(world.state.alive & (world.population.signup_day < CUTOFF))
    uplift = np.column_stack([send_uplift(world, CUTOFF, users, "push", push_campaign=c)
                              for c in range(len(PUSH_CAMPAIGNS))])
    fifth = len(users) // 5
    one_campaign = max(np.sort(uplift[:, c])[-fifth:].sum() for c in range(len(PUSH_CAMPAIGNS)))
    assert np.sort(uplift.max(axis=1))[-fifth:].sum() > 1.1 * one_campaign
    assert np.bincount(uplift.argmax(axis=1), minlength=len(PUSH_CAMPAIGNS)).max() < 0.6 * len(users)


def test_shopml_whatif_judges_a_trained_push_plan(model_home):
    """The command end to end on a trained push model: every plan, and the margins between them."""
    from tests.integration.test_cli import run
    from training.campaigns import HARM_AVERAGE, HARM_MODEL, HARM_TABLE, TRULY_PUT_OFF, VISIT_MODEL
    from training.config import resolve_config
    from training.task import run as train
    from training.tasks import TASKS

    task = TASKS["push_uplift"]
    trained = train(task, resolve_config(task.config_type, overrides=["validation_sends=1", "test_sends=1",
                                                                      "whatif_seeds=0", "harm_days=7"]), model_home)
    harm = trained.metrics[HARM_TABLE]
    assert set(harm) == {HARM_MODEL, VISIT_MODEL, "random", TRULY_PUT_OFF}
    assert harm[TRULY_PUT_OFF]["auc_truly_put_off"] == 1.0
    average = trained.metrics[HARM_AVERAGE]["added chance of being lost"]
    assert average["observed_low"] < average["observed"] < average["observed_high"]
    result = run("whatif", "--policy", "pushes", "--seeds", "2", "--horizon", "3", "--home", str(model_home.home))
    for plan in ("status quo", "uplift model", "uplift model, one campaign", "purchase propensity", "random",
                 "one plan minus another", "the campaign the model chose", "the truly best campaign",
                 "predicted"):          # the model's users lost (a header that may wrap)
        assert plan in result.stdout, result.stdout


def test_a_search_ranking_policy_changes_only_what_search_shows(world):
    """Ranked by appeal, as the production engine ranks, the arm is the status quo to the unit; a
    reversed order shows other items and so sells otherwise; a score that is not above 0 for
    every item is refused."""
    status_quo = run_arm(world, CUTOFF, HORIZON, Policy(), stream=2)
    as_production = run_arm(world, CUTOFF, HORIZON, Policy(search_rank=world.catalog.appeal.copy()), stream=2)
    reversed_order = run_arm(world, CUTOFF, HORIZON, Policy(search_rank=1 / world.catalog.appeal), stream=2)
    assert (as_production.units, as_production.revenue, as_production.churned) == (
        status_quo.units, status_quo.revenue, status_quo.churned)
    assert (reversed_order.units, reversed_order.revenue) != (status_quo.units, status_quo.revenue)
    with pytest.raises(ValueError, match="search_rank must hold a score above 0"):
        run_arm(world, CUTOFF, HORIZON, Policy(search_rank=np.zeros(world.catalog.n_items)), stream=2)
