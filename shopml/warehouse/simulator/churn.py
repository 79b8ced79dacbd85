"""What each live user carries from day to day, and the churn hazard it adds up to.

Bad experiences, failed searches and unwanted pushes are remembered as counts that fade with a
half-life; price rises are felt through the user's taste for the categories whose list prices rose.
The daily churn probability is ``1 - exp(-sum of hazards)``, and the cause of a churn is drawn in
proportion to each hazard (competing risks), so every churn has a recorded cause.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .config import Behaviour
from .population import Population

CAUSES = ("natural_decay", "bad_experience", "price_rise", "failed_search", "push_fatigue")


@dataclass
class UserState:
    alive: np.ndarray
    churn_day: np.ndarray        # first silent day, -1 while alive
    churn_cause: np.ndarray      # index into CAUSES, -1 while alive
    bad_experiences: np.ndarray  # decayed counts
    failed_searches: np.ndarray
    unwanted_pushes: np.ndarray
    push_until: np.ndarray       # a treated push acts on days < push_until
    push_effect: np.ndarray      # ... with its campaign's effect on the user (log session-rate multiplier)
    coupon_until: np.ndarray     # an unused coupon is valid on days < coupon_until
    coupon_discount: np.ndarray

    @classmethod
    def initial(cls, n_users: int) -> UserState:
        zeros, never = np.zeros(n_users), np.full(n_users, -1)
        return cls(alive=np.ones(n_users, dtype=bool), churn_day=never.copy(),
                   churn_cause=never.copy(), bad_experiences=zeros.copy(),
                   failed_searches=zeros.copy(), unwanted_pushes=zeros.copy(),
                   push_until=never.copy(), push_effect=zeros.copy(), coupon_until=never.copy(),
                   coupon_discount=zeros.copy())

    def take(self, users: np.ndarray) -> UserState:
        """A copy of these users' state (repeats allowed)."""
        return UserState(**{f.name: getattr(self, f.name)[users].copy() for f in fields(self)})

    def fade_memories(self, behaviour: Behaviour) -> None:
        keep = 0.5 ** (1.0 / behaviour.memory_half_life_days)
        for counts in (self.bad_experiences, self.failed_searches, self.unwanted_pushes):
            counts *= keep


def hazards(users: np.ndarray, state: UserState, population: Population,
            category_rise: np.ndarray, behaviour: Behaviour) -> np.ndarray:
    """(users, causes) daily hazards, in the order of CAUSES."""
    b, p = behaviour, population
    price_pressure = p.price_sensitivity[users] * (p.taste[users] @ category_rise)
    return np.column_stack([
        p.natural_hazard[users],
        b.bad_experience_hazard * state.bad_experiences[users],
        b.price_rise_hazard * price_pressure,
        b.failed_search_hazard * state.failed_searches[users],
        b.push_fatigue_hazard * state.unwanted_pushes[users],
    ])


def churn_probability(hazard: np.ndarray) -> np.ndarray:
    return -np.expm1(-hazard.sum(axis=1))


def draw_churn(users, hazard, day, state: UserState, rng) -> np.ndarray:
    """Draw today's churns among ``users``; they are silent from tomorrow. Returns P(churn)."""
    p_churn = churn_probability(hazard)
    leaving = rng.random(len(users)) < p_churn
    shares = hazard[leaving] / np.maximum(hazard[leaving].sum(axis=1, keepdims=True), 1e-300)
    cause = (shares.cumsum(axis=1) < rng.random((leaving.sum(), 1))).sum(axis=1)
    gone = users[leaving]
    state.alive[gone] = False
    state.churn_day[gone] = day + 1
    state.churn_cause[gone] = np.minimum(cause, len(CAUSES) - 1)
    return p_churn
