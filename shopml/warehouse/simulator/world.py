"""The simulated shop's fixed parts (catalogue, customers) and its day-to-day mutable state."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from . import vocabulary as vocab
from .ads import ExpectedClicks
from .catalog import Catalog, build_catalog
from .churn import UserState, churn_probability, hazards
from .config import SimulationConfig
from .intensity import day_intensity, window_probability
from .population import Population, build_population
from .prices import DayPrices, PriceProcess

N_CATEGORIES = len(vocab.CATEGORIES)


def day_rng(seed: int, day: int, stream: int = 0) -> np.random.Generator:
    """An independent, reproducible random stream per (seed, day, stream); day -1 builds the world."""
    return np.random.default_rng(np.random.SeedSequence([seed, day + 1, stream]))


def _apart(seed: int, day: int, stream: int, purpose: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, day + 1, stream, purpose]))


def text_rng(seed: int, day: int, stream: int = 0) -> np.random.Generator:
    """The stream that writes text on (seed, day, stream): apart from ``day_rng``, so how text is
    written never moves a purchase."""
    return _apart(seed, day, stream, 1)


def engagement_rng(seed: int, day: int, stream: int = 0) -> np.random.Generator:
    """The stream that draws likes, favourites and shares on (seed, day, stream), apart from
    ``day_rng`` like ``text_rng``."""
    return _apart(seed, day, stream, 2)


def order_rng(seed: int, day: int, stream: int = 0) -> np.random.Generator:
    """The stream that orders each session's browsing and ad views, apart from ``day_rng``."""
    return _apart(seed, day, stream, 3)


def exploration_rng(seed: int, day: int, stream: int = 0) -> np.random.Generator:
    """The stream that picks the searches the engine explores and what it shows them, apart from
    ``day_rng``."""
    return _apart(seed, day, stream, 4)


def page_rng(seed: int, day: int, stream: int = 0) -> np.random.Generator:
    """The stream that draws the category pages (who opens one, what is shown, what is clicked),
    apart from ``day_rng``: pages never move a purchase."""
    return _apart(seed, day, stream, 5)


def carousel_rng(seed: int, day: int, stream: int = 0) -> np.random.Generator:
    """The stream that draws the recommendation carousels, apart from ``day_rng`` like ``page_rng``."""
    return _apart(seed, day, stream, 6)


@dataclass
class World:
    config: SimulationConfig
    catalog: Catalog
    population: Population
    state: UserState
    prices: PriceProcess
    search_rank: np.ndarray | None = None    # per item, what the search engine ranks results by (None: appeal)

    @classmethod
    def create(cls, config: SimulationConfig) -> World:
        rng = day_rng(config.seed, -1)
        catalog = build_catalog(config, rng, text_rng(config.seed, -1))
        population = build_population(config, rng)
        return cls(config=config, catalog=catalog, population=population,
                   state=UserState.initial(config.users), prices=PriceProcess(catalog, config))

    @property
    def behaviour(self):
        return self.config.behaviour

    @cached_property
    def expected_ad_clicks(self) -> ExpectedClicks:
        return ExpectedClicks(self.population, self.catalog, self.behaviour)

    def intensity(self, users: np.ndarray, day: int, prices: DayPrices,
                  push_lift: np.ndarray | None = None, coupon_discount: np.ndarray | None = None):
        """Today's purchase process for ``users``; campaign effects (a push's log multiplier of the
        session rate, a coupon's discount) from the state unless given."""
        s = self.state
        if push_lift is None:
            push_lift = np.where(s.push_until[users] > day, s.push_effect[users], 0.0)
        if coupon_discount is None:
            coupon_discount = np.where(s.coupon_until[users] > day, s.coupon_discount[users], 0.0)
        return day_intensity(self.population, self.catalog, self.behaviour, users, day,
                             prices.category_index, push_lift, coupon_discount)

    def purchase_window(self, users: np.ndarray, day: int, n_days: int, prices: DayPrices,
                        push_effect: np.ndarray | None = None, push_days: int = 0,
                        coupon_discount: np.ndarray | None = None) -> np.ndarray:
        """P(a purchase on days day .. day+n_days-1) given the hidden state now, holding today's
        prices and churn hazard fixed over the window; a push of ``push_effect`` (per user) acts on
        its first ``push_days``, none without."""
        no_push = np.zeros(len(users))
        rates = [
            self.intensity(users, day + k, prices, push_effect if push_effect is not None and k < push_days
                           else no_push, coupon_discount).purchase_rate
            for k in range(n_days)
        ]
        p_churn = churn_probability(hazards(users, self.state, self.population,
                                            prices.category_rise, self.behaviour))
        return window_probability(rates, p_churn) * self.state.alive[users]
