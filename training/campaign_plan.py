"""Who gets a campaign's send, and what that plan is worth in the what-if shop.

A plan spends a budget (a number of sends) on the users with the highest predicted uplift, and on
none whose predicted uplift is not above 0: a send that is expected to lose purchases is not made
(a push puts some users off, and the fatigue it leaves drives them away).

``campaign_whatif`` judges plans the way the shop would live them: the simulated shop continues
from the end of its data with one extra campaign on its first day, sent to the same budget (the
campaign's own: its reach times its treated share of the signed-up users) by each plan: by the
uplift model (in purchases, and in spend), by purchase propensity (the usual mistake: it finds
who buys anyway), at random, and by the true uplift of every user (the oracle, from the
simulator's hidden state). Where a send comes in several campaigns (pushes), the model's plans
send each user the campaign the model chooses for them, the oracle's the truly best one; a
further plan sends everyone the one campaign whose plan the model expects most of, as do the
propensity and random plans, so that their difference from the model is targeting alone. The
status quo sends nothing extra. Every arm runs on the same random numbers (``simulator.whatif``), so
differences are the plans' and not luck; the model's plan is compared with each other plan as a
paired difference with its interval. Where the model predicts harm (pushes), its plans' rows also
carry the users it expects them to drive away, to set beside the churn the what-if shop counts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from feature_repo.definitions import names
from shopml.settings import Settings
from shopml.warehouse.database import connect

from .datasets import point_in_time_dataset
from .labels import CUTOFF

MODEL_PLAN, SPEND_PLAN, ONE_CAMPAIGN_PLAN = "uplift model", "uplift model, by spend", "uplift model, one campaign"
PROPENSITY_PLAN, RANDOM_PLAN, ORACLE_PLAN = "purchase propensity", "random", "true uplift (oracle)"
SHOWN = ("buyers", "revenue", "coupon_cost", "churned", "value")
CHOSEN, ONE, TRULY_BEST = "the campaign the model chose", "the one campaign", "the truly best campaign"
PREDICTED_LOST = "predicted_users_lost"        # a plan's summed harm, where the model predicts it (pushes)
SEND_DAYS = {"coupon": 14, "push": 28}        # the what-if's horizon: the coupon's week and after; a push's fatigue


def plan(uplift: np.ndarray, budget: int, put_off: np.ndarray | None = None, cost: np.ndarray | None = None,
         max_cost: float | None = None) -> np.ndarray:
    """Positions of the users to send to, best first: the ``budget`` highest predicted uplifts
    above 0, none of them ``put_off``. With a ``max_cost``, the sends with the most uplift per unit
    of ``cost`` are taken while the sum of their costs stays within it (the greedy answer to the
    knapsack: a send that does not fit is skipped, a cheaper one after it may still fit)."""
    uplift = np.where(put_off, -np.inf, uplift) if put_off is not None else np.asarray(uplift, dtype=float)
    if max_cost is None or cost is None:
        order = np.argsort(-uplift, kind="stable")[:max(budget, 0)]
        return order[uplift[order] > 0]
    cost = np.maximum(np.asarray(cost, dtype=float), 1e-12)
    order = np.argsort(-(uplift / cost), kind="stable")
    order = order[uplift[order] > 0]
    fits = np.zeros(len(order), dtype=bool)
    spent = 0.0
    for rank, position in enumerate(order):          # a loop over candidates (at most a request's 1,000)
        if fits.sum() == budget:
            break
        if spent + cost[position] <= max_cost:
            fits[rank], spent = True, spent + cost[position]
    return order[fits]


def users_as_of(settings: Settings, feature_service: str, cutoff: datetime) -> pl.DataFrame:
    """Every user signed up before ``cutoff``, with their ``feature_service`` features as of it."""
    with connect(settings.warehouse_path) as con:
        users = con.sql("SELECT user_id FROM users WHERE signup_ts < ? ORDER BY user_id", params=[cutoff]).pl()
    rows = users.select(pl.col("user_id").alias(names.USER_ID),
                        pl.lit(cutoff).alias(names.EVENT_TIMESTAMP), pl.lit(cutoff).alias(CUTOFF))
    return point_in_time_dataset(rows, feature_service, settings)


def campaign_whatif(settings: Settings, send: str, model, feature_service: str, seeds: int,
                    horizon: int | None = None, seed: int = 7) -> dict[str, dict[str, dict[str, float]]]:
    """One extra campaign of ``send`` (coupon or push) after the data, planned by ``model`` (a
    ``training.campaigns.CampaignModel``: its uplift, sparing whom it predicts put off) and by the
    alternatives: per plan, the sends made and each measure's change
    from the status quo; and the model's plan against each other plan, with 95% intervals."""
    from shopml.warehouse.simulator import vocabulary
    from shopml.warehouse.simulator.whatif import Policy, run_arms, send_uplift, summarise

    from .oracle import whatif_start

    if send not in SEND_DAYS:
        raise ValueError(f"send must be one of {sorted(SEND_DAYS)}, got {send!r}")
    config, day, world = whatif_start(settings)
    frame = users_as_of(settings, feature_service, config.start_time + timedelta(days=day))
    users = frame[names.USER_ID].to_numpy() - 1
    b = world.behaviour
    budget = round(len(users) * b.treatment_share * (b.promotion_reach if send == "coupon" else b.push_reach))
    x = model.inputs(frame)
    choice = model.choose(x)
    scores = {MODEL_PLAN: choice.uplift, SPEND_PLAN: choice.spend_uplift, PROPENSITY_PLAN: model.purchase(x),
              RANDOM_PLAN: np.random.default_rng(seed).random(len(users)) + 1e-9}    # above 0: every user a gain
    put_off = dict.fromkeys((MODEL_PLAN, SPEND_PLAN), choice.put_off)
    campaigns = dict.fromkeys(scores, choice.campaign)          # per user, an index into ``offered``
    offered = [vocabulary.PUSH_CAMPAIGNS.index(c) for c in model.campaigns or vocabulary.PUSH_CAMPAIGNS[:1]]
    if send == "push":
        true = np.column_stack([send_uplift(world, day, users, send, push_campaign=c) for c in offered])
        scores[ORACLE_PLAN], campaigns[ORACLE_PLAN] = true.max(axis=1), true.argmax(axis=1)
        if len(offered) > 1:
            one, single = best_single_campaign(model, x, budget)
            scores[ONE_CAMPAIGN_PLAN], put_off[ONE_CAMPAIGN_PLAN] = single.uplift, single.put_off
            campaigns |= dict.fromkeys((ONE_CAMPAIGN_PLAN, PROPENSITY_PLAN, RANDOM_PLAN), np.full(len(users), one))
    else:
        scores[ORACLE_PLAN] = send_uplift(world, day, users, send)
    positions = {name: plan(score, budget, put_off.get(name)) for name, score in scores.items()}
    chosen = {name: users[at] for name, at in positions.items()}
    policies = {name: Policy(coupons=users[at]) if send == "coupon" else
                Policy(pushes=users[at], push_campaign=np.array(offered)[campaigns[name][at]])
                for name, at in positions.items()}
    outcomes = run_arms(world, day, horizon or SEND_DAYS[send], policies, seeds)
    against_status_quo = summarise(outcomes)
    table = {name: {"sends": float(len(chosen.get(name, ()))),
                    **{key: value for key, value in row.items() if key.split("_change")[0] in SHOWN}}
             for name, row in against_status_quo.items()}
    if model.losses is not None:
        for name in (MODEL_PLAN, SPEND_PLAN):
            table[name][PREDICTED_LOST] = float(choice.harm[positions[name]].sum())
    margins = {f"{plan_name} - {other}": {key: value for key, value in summarise(outcomes, other)[plan_name].items()
                                         if "_change" in key and key.split("_change")[0] in SHOWN}
               for plan_name in (MODEL_PLAN, SPEND_PLAN)
               for other in (PROPENSITY_PLAN, RANDOM_PLAN, ORACLE_PLAN, ONE_CAMPAIGN_PLAN) if other in outcomes}
    found = {"plans": table, "margins": margins}
    if ONE_CAMPAIGN_PLAN in scores:
        found["choice"] = campaign_choice(true, choice.campaign, campaigns[ONE_CAMPAIGN_PLAN], positions[MODEL_PLAN])
    return found


def campaign_choice(true: np.ndarray, chosen: np.ndarray, one: np.ndarray,
                    planned: np.ndarray) -> dict[str, dict[str, float]]:
    """The model's choice of campaign against the truth, without the noise of futures: among the
    users of the model's plan, the share whose campaign is the truly best for them and the buyers
    expected from their true uplifts, under each way of choosing (``true``: users x campaigns;
    ``chosen``, ``one``: a campaign per user)."""
    best = true.argmax(axis=1)
    return {name: {"truly_best_share": float(np.mean(pick[planned] == best[planned])),
                   "expected_buyers_of_the_plan": float(true[planned, pick[planned]].sum())}
            for name, pick in ((CHOSEN, chosen), (ONE, one), (TRULY_BEST, best))}


def best_single_campaign(model, x: np.ndarray, budget: int):
    """The campaign (an index into ``model.campaigns``) whose plan, sent to everyone it picks, the
    model expects the most incremental purchases of, with the model's scores of it
    (a ``CampaignChoice``)."""
    choices = [model.choose(x, (campaign,)) for campaign in model.campaigns]
    gains = [single.uplift[plan(single.uplift, budget, single.put_off)].sum() for single in choices]
    best = int(np.argmax(gains))
    return best, choices[best]
