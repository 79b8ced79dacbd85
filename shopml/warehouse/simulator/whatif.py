"""The what-if shop: the simulated shop continued from a cut-off under a policy, beside the same
shop continued as it was, on the same random numbers.

Every arm starts from its own copy of the world as it stood at the cut-off (``oracle.replay``)
and runs ``horizon`` days on random stream s. Arms that share s share every draw for as long as
their outcomes agree, so the difference between two arms is the policy's effect and not the luck
of the draw (common random numbers); repeating over streams 1..seeds gives its spread, as a
paired interval. A price policy is a multiplier of every item's list price (``PriceProcess.policy``),
held over the horizon; its rises count as rises customers remember, and so drive churn.

A customer lost is revenue lost beyond the horizon too. ``value`` counts it: revenue less each
churned customer's lifetime value, the status quo's revenue per horizon over its churned
customers per horizon (a customer brings revenue / live a horizon and stays live / churned
horizons, on average, in a steady state).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .. import schema
from .engine import Simulation
from .world import World


@dataclass(frozen=True)
class ArmOutcome:
    units: float
    revenue: float
    churned: int                 # users live at the cut-off who left within the horizon
    category_units: np.ndarray   # per category


def run_arm(world: World, day: int, horizon: int, price_policy: np.ndarray, stream: int) -> ArmOutcome:
    """The shop from 00:00 of ``day`` for ``horizon`` days under ``price_policy``; ``world`` is
    not changed."""
    arm = World(config=world.config, catalog=world.catalog, population=world.population,
                state=copy.deepcopy(world.state), prices=copy.deepcopy(world.prices))
    arm.prices.policy = np.asarray(price_policy, dtype=float)
    live = arm.state.alive & (arm.population.signup_day < day)
    simulation = Simulation(arm)
    units = revenue = 0.0
    by_category = np.zeros(int(arm.catalog.category.max()) + 1)
    for today in range(day, day + horizon):
        events = simulation.step(today, stream=stream)[schema.EVENTS]
        bought = events["event_type"] == "purchase"
        quantity, item = events["quantity"][bought], events["item_id"][bought] - 1
        units += float(quantity.sum())
        revenue += float((events["price"][bought] * quantity).sum())
        np.add.at(by_category, arm.catalog.category[item], quantity)
    return ArmOutcome(units=units, revenue=revenue, churned=int((live & ~arm.state.alive).sum()),
                      category_units=by_category)


def compare(world: World, day: int, horizon: int, policies: dict[str, np.ndarray], seeds: int,
            confidence: float = 0.95) -> dict[str, dict[str, float]]:
    """Per policy, over ``seeds`` paired futures: the mean units, revenue, churned users and value
    (revenue less the lifetime value of the churned), and the mean difference from the status quo
    (every price as it would have been) with its interval."""
    status_quo = np.ones(world.catalog.n_items)
    arms = {"status quo": status_quo, **policies}
    outcomes = {name: [run_arm(world, day, horizon, policy, stream) for stream in range(1, seeds + 1)]
                for name, policy in arms.items()}
    t = float(stats.t.ppf(0.5 + confidence / 2, max(seeds - 1, 1)))
    base = outcomes["status quo"]
    lifetime_value = np.mean([r.revenue for r in base]) / max(np.mean([r.churned for r in base]), 1e-9)

    def measured(run: ArmOutcome, measure: str) -> float:
        return run.revenue - lifetime_value * run.churned if measure == "value" else getattr(run, measure)

    out = {}
    for name, runs in outcomes.items():
        row = {"lifetime_value": float(lifetime_value)}
        for measure in ("units", "revenue", "churned", "value"):
            values = np.array([measured(run, measure) for run in runs], dtype=float)
            change = values - np.array([measured(run, measure) for run in base], dtype=float)
            half = t * change.std(ddof=1) / np.sqrt(seeds) if seeds > 1 else float("nan")
            row |= {measure: float(values.mean()), f"{measure}_change": float(change.mean()),
                    f"{measure}_change_low": float(change.mean() - half), f"{measure}_change_high": float(change.mean() + half)}
        out[name] = row
    return out
