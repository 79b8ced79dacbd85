"""Marketing campaigns with randomised treatment: push notifications and coupons.

A push campaign targets a random share of signed-up customers (the shop does not know who has
left) and treats a random half. A treated push changes the user's session rate for two days by
``exp(effect)``: most users come back more, some are put off (negative effect), and those
remember the push as unwanted, which adds to their churn hazard. The effect is the user's push
effect plus the campaign's lean (``campaign_effect``): a "we miss you" moves the fading and
annoys the busy, "weekend deals" moves bargain hunters, so whom a push helps or puts off
depends on what it says, and choosing the campaign per user is a real choice. A coupon raises the
purchase probability while valid, in proportion to the user's coupon response, until its first
use. Truth records, for every row, the uplift computed from the hidden state at send time.
"""

from __future__ import annotations

import numpy as np

from . import vocabulary as vocab
from .prices import DayPrices
from .world import World


def _targets(world: World, day: int, reach: float, rng) -> tuple[np.ndarray, np.ndarray]:
    eligible = np.flatnonzero(world.population.signup_day < day)
    targeted = eligible[rng.random(len(eligible)) < reach]
    treated = rng.random(len(targeted)) < world.behaviour.treatment_share
    return targeted, treated


def campaign_effect(world: World, users: np.ndarray, campaign) -> np.ndarray:
    """The effect (log multiplier of the session rate) of a push of ``campaign`` (an index into
    ``vocabulary.PUSH_CAMPAIGNS``, one or one per user) on ``users``: their push effect plus the
    campaign's leans on their traits (``Population.push_traits``)."""
    p = world.population
    leans = np.asarray(world.behaviour.push_campaign_leans)[np.asarray(campaign)]
    return p.push_effect[users] + (p.push_traits[users] * leans).sum(axis=-1)


def push(world: World, users: np.ndarray, day: int, campaign) -> None:
    """A push of ``campaign`` (one, or one per user) reaches these (live) users at ``day``: it acts
    for the push window with its effect, and those it puts off remember it as unwanted."""
    s, effect = world.state, campaign_effect(world, users, campaign)
    s.push_until[users] = day + world.behaviour.push_window_days
    s.push_effect[users] = effect
    s.unwanted_pushes[users[effect < 0]] += 1.0


def campaign_of_day(world: World, day: int) -> int:
    """The shop's own push campaigns take turns, one per push day."""
    return (day // world.behaviour.push_every_days) % len(vocab.PUSH_CAMPAIGNS)


def give_coupons(world: World, users: np.ndarray, day: int, discount) -> None:
    """These users hold a coupon of ``discount`` from ``day``, valid for the coupon window."""
    s = world.state
    s.coupon_until[users] = day + world.behaviour.coupon_valid_days
    s.coupon_discount[users] = discount


def send_pushes(world: World, day: int, prices: DayPrices, rng) -> dict[str, np.ndarray]:
    b, s, p = world.behaviour, world.state, world.population
    users, treated = _targets(world, day, b.push_reach, rng)
    alive = s.alive[users]
    p_open = p.open_rate[users]
    opened = treated & alive & (rng.random(len(users)) < p_open)
    campaign = campaign_of_day(world, day)
    effect = campaign_effect(world, users, campaign)
    p_treated = world.purchase_window(users, day, b.push_window_days, prices, effect, b.push_window_days)
    p_control = world.purchase_window(users, day, b.push_window_days, prices)
    push(world, users[treated & alive], day, campaign)
    return dict(user=users, treated=treated, opened=opened, campaign=vocab.PUSH_CAMPAIGNS[campaign], p_open=p_open,
                p_treated=p_treated, p_control=p_control, effect=effect)


def send_promotions(world: World, day: int, prices: DayPrices, rng) -> dict[str, np.ndarray]:
    b = world.behaviour
    users, coupon = _targets(world, day, b.promotion_reach, rng)
    discount = np.asarray(b.coupon_discounts)[rng.integers(0, len(b.coupon_discounts), len(users))]
    p_coupon = world.purchase_window(users, day, b.coupon_valid_days, prices, coupon_discount=discount)
    p_without = world.purchase_window(users, day, b.coupon_valid_days, prices,
                                      coupon_discount=np.zeros(len(users)))
    give_coupons(world, users[coupon], day, discount[coupon])
    campaign = vocab.PROMOTION_CAMPAIGNS[(day // b.promotion_every_days) % len(vocab.PROMOTION_CAMPAIGNS)]
    return dict(user=users, coupon=coupon, discount=np.where(coupon, discount, 0.0), campaign=campaign,
                p_coupon=p_coupon, p_without=p_without)
