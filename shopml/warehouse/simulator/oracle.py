"""The oracle: the probability of an outcome over a horizon given the simulator's hidden state at
an as-of day, by Monte Carlo over the simulator's own process, the best any model could do.

The recorded history is replayed up to the as-of day (stream 0 reproduces it exactly). From that
state, alternative futures are simulated with other random streams. Users evolve independently
given the price path (prices are the only shared process), so each group of futures copies the
price process once and stacks ``replicas / groups`` copies of the scored users into one
vectorised population; every group draws its own price path. An outcome's probability is the
share of futures in which it happened.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from .. import schema
from .config import SimulationConfig
from .engine import Simulation
from .parallel import run_all
from .world import World

OUTCOMES = ("purchase", "cart", "any_event")


@dataclass(frozen=True)
class OracleEstimate:
    users: np.ndarray                 # user indices (user_id - 1)
    probability: dict[str, np.ndarray]
    futures: int

    def standard_error(self, outcome: str) -> np.ndarray:
        p = self.probability[outcome]
        return np.sqrt(p * (1 - p) / self.futures)


def replay(config: SimulationConfig, day: int) -> World:
    """The world as it stood at 00:00 of ``day`` in the recorded history."""
    world = World.create(config)
    simulation = Simulation(world, keeps_record=False)
    for past in range(day):
        simulation.step(past)
    return world


def _happened(world: World, first_day: int, horizon_days: int, stream: int) -> dict[str, np.ndarray]:
    n = world.population.n_users
    seen = {outcome: np.zeros(n, dtype=bool) for outcome in OUTCOMES}
    simulation = Simulation(world, keeps_record=False)
    for day in range(first_day, first_day + horizon_days):
        events = simulation.step(day, stream=stream)[schema.EVENTS]
        user, kind = events["user_id"] - 1, events["event_type"]
        seen["any_event"][user] = True
        seen["purchase"][user[kind == "purchase"]] = True
        seen["cart"][user[kind == "cart"]] = True
    return seen


def outcome_probabilities(world: World, users: np.ndarray, day: int, horizon_days: int,
                          futures: int = 200, groups: int = 10) -> OracleEstimate:
    """P(a purchase / a cart / any event on days day .. day + horizon_days - 1) for ``users``,
    given ``world`` as it stood at 00:00 of ``day`` (see ``replay``); ``world`` is not changed."""
    per_group = -(-futures // groups)
    stacked = np.tile(users, per_group)
    hits = {outcome: np.zeros(len(users)) for outcome in OUTCOMES}
    for seen in run_all(_group_of_futures, [(1 + group,) for group in range(groups)],
                        common=(world, stacked, day, horizon_days)):
        for outcome in OUTCOMES:
            hits[outcome] += seen[outcome].reshape(per_group, len(users)).sum(axis=0)
    total = per_group * groups
    return OracleEstimate(users=users, probability={o: hits[o] / total for o in OUTCOMES}, futures=total)


def _group_of_futures(world: World, stacked: np.ndarray, day: int, horizon_days: int, stream: int) -> dict[str, np.ndarray]:
    """What happened to each of the ``stacked`` users (repeats: independent copies) in one future
    on random stream ``stream``, with its own price path."""
    future = World(config=world.config, catalog=world.catalog, population=world.population.take(stacked),
                   state=world.state.take(stacked), prices=copy.deepcopy(world.prices))
    return _happened(future, day, horizon_days, stream)
