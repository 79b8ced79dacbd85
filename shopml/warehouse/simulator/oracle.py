"""The oracle: the probability of an outcome over a horizon given the simulator's hidden state at
an as-of day, by Monte Carlo over the simulator's own process, the best any model could do.

The recorded history is replayed up to the as-of day (stream 0 reproduces it exactly). From that
state, alternative futures are simulated with other random streams. Users evolve independently
given the price path (prices are the only shared process), so each group of futures copies the
price process once and stacks ``replicas / groups`` copies of the scored users into one
vectorised population; every group draws its own price path. An outcome's probability is the
share of futures in which it happened.

A copy whose outcomes asked about have all happened is retired for the rest of its future
(marked gone: the simulator skips the gone). Its outcomes are settled, and as the users' futures
are independent given the prices, the other copies' futures keep their distribution (they draw
other random numbers, not other odds). A 30-day P(any event) so costs the days until most copies
have had one, not 30 days of every copy.
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


KEPT_REPLAYS = 3       # per config, the latest replays kept to go on from (a demo-sized world: tens of MB)
_replays: dict[str, dict[int, Simulation]] = {}


def replay(config: SimulationConfig, day: int) -> World:
    """The world as it stood at 00:00 of ``day`` in the recorded history, a copy of its own.

    Several tasks of one ``shopml train all`` replay the same history (their oracles' cut-offs,
    the what-if shop's start), so the process keeps its last few replays and goes on from the
    latest one not after ``day``: the same steps on the same streams, so the same world."""
    kept = _replays.setdefault(repr(config), {})
    start = max((past for past in kept if past <= day), default=None)
    simulation = (copy.deepcopy(kept[start]) if start is not None
                  else Simulation(World.create(config), keeps_record=False))
    for past in range(start or 0, day):
        simulation.step(past)
    if start != day:
        kept[day] = copy.deepcopy(simulation)
        for oldest in sorted(kept)[:-KEPT_REPLAYS]:
            del kept[oldest]
    return simulation.world


def _happened(world: World, first_day: int, horizon_days: int, stream: int,
              outcomes: tuple[str, ...]) -> dict[str, np.ndarray]:
    n = world.population.n_users
    seen = {outcome: np.zeros(n, dtype=bool) for outcome in OUTCOMES}
    simulation = Simulation(world, keeps_record=False)
    for day in range(first_day, first_day + horizon_days):
        events = simulation.step(day, stream=stream)[schema.EVENTS]
        user, kind = events["user_id"] - 1, events["event_type"]
        seen["any_event"][user] = True
        seen["purchase"][user[kind == "purchase"]] = True
        seen["cart"][user[kind == "cart"]] = True
        world.state.alive &= ~np.logical_and.reduce([seen[outcome] for outcome in outcomes])   # settled: retired
    return seen


def outcome_probabilities(world: World, users: np.ndarray, day: int, horizon_days: int,
                          futures: int = 200, groups: int = 10, outcomes: tuple[str, ...] = OUTCOMES) -> OracleEstimate:
    """P(each of ``outcomes``: a purchase, a cart, any event, on days day .. day + horizon_days - 1)
    for ``users``, given ``world`` as it stood at 00:00 of ``day`` (see ``replay``); ``world`` is
    not changed."""
    unknown = set(outcomes) - set(OUTCOMES)
    if unknown or not outcomes:
        raise ValueError(f"outcomes must be some of {OUTCOMES}, got {tuple(outcomes)}")
    per_group = -(-futures // groups)
    stacked = np.tile(users, per_group)
    hits = {outcome: np.zeros(len(users)) for outcome in outcomes}
    for seen in run_all(_group_of_futures, [(1 + group,) for group in range(groups)],
                        common=(world, stacked, day, horizon_days, tuple(outcomes))):
        for outcome in outcomes:
            hits[outcome] += seen[outcome].reshape(per_group, len(users)).sum(axis=0)
    total = per_group * groups
    return OracleEstimate(users=users, probability={o: hits[o] / total for o in outcomes}, futures=total)


def _group_of_futures(world: World, stacked: np.ndarray, day: int, horizon_days: int, outcomes: tuple[str, ...],
                      stream: int) -> dict[str, np.ndarray]:
    """What happened to each of the ``stacked`` users (repeats: independent copies) in one future
    on random stream ``stream``, with its own price path."""
    future = World(config=world.config, catalog=world.catalog, population=world.population.take(stacked),
                   state=world.state.take(stacked), prices=copy.deepcopy(world.prices))
    return _happened(future, day, horizon_days, stream, outcomes)
