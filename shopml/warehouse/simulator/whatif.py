"""The what-if shop: the simulated shop continued from a cut-off under a policy, beside the same
shop continued as it was, on the same random numbers.

Every arm starts from its own copy of the world as it stood at the cut-off (``oracle.replay``)
and runs ``horizon`` days on random stream s. Arms that share s share every draw for as long as
their outcomes agree, so the difference between two arms is the policy's effect and not the luck
of the draw (common random numbers); repeating over streams 1..seeds gives its spread, as a
paired interval. A policy (``Policy``) may set prices, hand out coupons and send pushes:
- prices: a multiplier of every item's list price (``PriceProcess.policy``), held over the
  horizon; its rises count as rises customers remember, and so drive churn;
- coupons and pushes: the users given one at 00:00 of the first day, on top of the shop's own
  campaigns, exactly as a campaign gives them (``campaigns.give_coupons``, ``campaigns.push``):
  a push (of one campaign, or of one per user) reaches only live users and puts some off, which
  they remember, and so drive churn;
- search: ``search_rank`` gives the score (per item) the search engine ranks its result lists by
  in place of appeal; what shoppers look for, and how they click down a list, stay as they are;
- ads: ``show_ads=False`` turns every ad slot into a ghost (chosen, never shown, as the holdout
  slots are), so the difference from the status quo is what the ads bring; ``ad_targeted_share``
  sets the share of slots filled from the page category's ads (the ad policy).

A customer lost is revenue lost beyond the horizon too. ``value`` counts it: revenue less each
churned customer's lifetime value, the status quo's revenue per horizon over its churned
customers per horizon (a customer brings revenue / live a horizon and stays live / churned
horizons, on average, in a steady state).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from .. import schema
from .campaigns import campaign_effect, give_coupons, push
from .engine import Simulation
from .parallel import run_all
from .world import World, day_rng


STATUS_QUO = "status quo"
MEASURES = ("units", "revenue", "buyers", "coupon_cost", "churned", "value", "ad_slots_shown", "ad_clicks",
            "ad_conversions")


@dataclass(frozen=True)
class Policy:
    prices: np.ndarray | None = None          # per item, a multiplier of its list price
    coupons: np.ndarray | None = None         # user indices given a coupon on the first day
    coupon_discount: float = 0.15
    pushes: np.ndarray | None = None          # user indices sent a push on the first day
    push_campaign: int | np.ndarray = 0       # its campaign (index of PUSH_CAMPAIGNS), one or one per push
    show_ads: bool = True                     # False: every ad slot a ghost (chosen, not shown)
    ad_targeted_share: float | None = None    # slots filled from the page's category (None: as it is)
    search_rank: np.ndarray | None = None     # per item (above 0), what search ranks results by (None: appeal)


@dataclass(frozen=True)
class ArmOutcome:
    units: float
    revenue: float                # paid, so net of coupon discounts
    buyers: int                   # users with a purchase within the horizon
    coupon_cost: float            # discounts granted within the horizon
    churned: int                  # users live at the cut-off who left within the horizon
    category_units: np.ndarray    # per category
    ad_slots_shown: int
    ad_clicks: int
    ad_conversions: int           # ad slots, shown or ghost, whose item the session bought after it


def run_arm(world: World, day: int, horizon: int, policy: Policy, stream: int) -> ArmOutcome:
    """The shop from 00:00 of ``day`` for ``horizon`` days under ``policy``; ``world`` is not
    changed."""
    rank = policy.search_rank
    if rank is not None and (np.shape(rank) != (world.catalog.n_items,) or not np.all(np.asarray(rank) > 0)):
        raise ValueError(f"search_rank must hold a score above 0 for each of the {world.catalog.n_items} items")
    behaviour = world.behaviour if policy.show_ads else replace(world.behaviour, ad_holdout_rate=1.0)
    if policy.ad_targeted_share is not None:
        behaviour = replace(behaviour, ad_targeted_share=policy.ad_targeted_share)
    config = replace(world.config, behaviour=behaviour)
    arm = World(config=config, catalog=world.catalog, population=world.population,
                state=copy.deepcopy(world.state), prices=copy.deepcopy(world.prices), search_rank=rank)
    if policy.prices is not None:
        arm.prices.policy = np.asarray(policy.prices, dtype=float)
    live = arm.state.alive & (arm.population.signup_day < day)
    if policy.coupons is not None:
        give_coupons(arm, np.asarray(policy.coupons, dtype=np.int64), day, policy.coupon_discount)
    if policy.pushes is not None:
        sent = np.asarray(policy.pushes, dtype=np.int64)
        campaign = np.broadcast_to(np.asarray(policy.push_campaign), sent.shape)
        live_sent = arm.state.alive[sent]
        push(arm, sent[live_sent], day, campaign[live_sent])
    simulation = Simulation(arm, keeps_record=False)
    units = revenue = 0.0
    slots_shown = ad_clicks = ad_conversions = 0
    bought_by = np.zeros(arm.population.n_users, dtype=bool)
    by_category = np.zeros(int(arm.catalog.category.max()) + 1)
    for today in range(day, day + horizon):
        log = simulation.step(today, stream=stream)
        events, slots = log[schema.EVENTS], log[schema.AD_IMPRESSIONS]
        slots_shown += int((~slots["in_holdout"]).sum())
        ad_clicks += int(slots["clicked"].sum())
        ad_conversions += int(slots["converted"].sum())
        bought = events["event_type"] == "purchase"
        quantity, item = events["quantity"][bought], events["item_id"][bought] - 1
        units += float(quantity.sum())
        revenue += float((events["price"][bought] * quantity).sum())
        bought_by[events["user_id"][bought] - 1] = True
        np.add.at(by_category, arm.catalog.category[item], quantity)
    return ArmOutcome(units=units, revenue=revenue, buyers=int(bought_by.sum()), coupon_cost=simulation.coupon_cost,
                      churned=int((live & ~arm.state.alive).sum()), category_units=by_category,
                      ad_slots_shown=slots_shown, ad_clicks=ad_clicks, ad_conversions=ad_conversions)


def run_arms(world: World, day: int, horizon: int, policies: dict[str, Policy],
             seeds: int) -> dict[str, list[ArmOutcome]]:
    """The status quo (no policy) and every policy over ``seeds`` paired futures (streams 1..seeds)."""
    arms = {STATUS_QUO: Policy(), **policies}
    runs = [(name, stream) for name in arms for stream in range(1, seeds + 1)]
    outcomes = run_all(run_arm, [(arms[name], stream) for name, stream in runs], common=(world, day, horizon))
    return {name: [outcome for (arm, _), outcome in zip(runs, outcomes) if arm == name] for name in arms}


def summarise(outcomes: dict[str, list[ArmOutcome]], reference: str = STATUS_QUO,
              confidence: float = 0.95) -> dict[str, dict[str, float]]:
    """Per arm: the mean of every measure (``value``: revenue less the lifetime value of the
    churned) and its mean paired difference from ``reference``'s, with its interval."""
    seeds = len(outcomes[STATUS_QUO])
    t = float(stats.t.ppf(0.5 + confidence / 2, max(seeds - 1, 1)))
    status_quo = outcomes[STATUS_QUO]
    lifetime_value = np.mean([r.revenue for r in status_quo]) / max(np.mean([r.churned for r in status_quo]), 1e-9)

    def measured(run: ArmOutcome, measure: str) -> float:
        return run.revenue - lifetime_value * run.churned if measure == "value" else getattr(run, measure)

    out = {}
    for name, runs in outcomes.items():
        row = {"lifetime_value": float(lifetime_value)}
        for measure in MEASURES:
            values = np.array([measured(run, measure) for run in runs], dtype=float)
            change = values - np.array([measured(run, measure) for run in outcomes[reference]], dtype=float)
            half = t * change.std(ddof=1) / np.sqrt(seeds) if seeds > 1 else float("nan")
            row |= {measure: float(values.mean()), f"{measure}_change": float(change.mean()),
                    f"{measure}_change_low": float(change.mean() - half), f"{measure}_change_high": float(change.mean() + half)}
        out[name] = row
    return out


def compare(world: World, day: int, horizon: int, policies: dict[str, Policy], seeds: int,
            confidence: float = 0.95) -> dict[str, dict[str, float]]:
    """Per policy, over ``seeds`` paired futures: the mean of every measure and its difference from
    the status quo (no policy: every price as it would have been, no extra send), with its interval."""
    return summarise(run_arms(world, day, horizon, policies, seeds), STATUS_QUO, confidence)


def send_uplift(world: World, day: int, users: np.ndarray, send: str, coupon_discount: float = 0.15,
                push_campaign=0) -> np.ndarray:
    """The true uplift in P(a purchase in the send's window) of a coupon or a push (of
    ``push_campaign``) sent to ``users`` at 00:00 of ``day``, from their hidden state (0 for those
    who have left), on the prices the what-if's first stream draws for the day: what a send's
    oracle targets by."""
    b = world.behaviour
    prices = copy.deepcopy(world.prices).step(day, day_rng(world.config.seed, day, 1))
    if send == "coupon":
        with_send = world.purchase_window(users, day, b.coupon_valid_days, prices,
                                          coupon_discount=np.full(len(users), coupon_discount))
        return with_send - world.purchase_window(users, day, b.coupon_valid_days, prices,
                                                 coupon_discount=np.zeros(len(users)))
    if send == "push":
        effect = campaign_effect(world, users, push_campaign)
        with_send = world.purchase_window(users, day, b.push_window_days, prices, effect, b.push_window_days)
        return with_send - world.purchase_window(users, day, b.push_window_days, prices)
    raise ValueError(f"send must be coupon or push, got {send!r}")
