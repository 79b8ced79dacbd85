"""Recommendation carousels: a share of sessions (``carousel_rate``) opens on the shop's home
page, where its recommendation engine shows ``carousel_size`` items in a row, and the shopper
clicks by position and by how much each item attracts them.

The engine's production policy is not personal: the shop's most appealing items (every category),
starting at a random rank below the top; for a small share of carousels
(``carousel_exploration``) it shows a uniformly random sample of the on-sale catalogue in random
order instead. Every shown item is logged with its position and its propensity, the exact
probability that the logging policy (the mixture) shows that item at that position
(``pages.logging_propensity``, one group: the whole catalogue).

An examined item attracts as on a category page (its quality and appeal, the user's price
sensitivity against its price) and, being from any category, by the user's hidden taste for its
category: ``CAROUSEL_TASTE`` per unit of log relative taste. The truth keeps each shown item's
attraction and click probability.

Like pages, carousels are logged beside the session's path (their clicks open no view and move
no purchase) and draw from their own stream (``world.carousel_rng``), so the rest of the shop is
what it was without them.
"""

from __future__ import annotations

import numpy as np

from .catalog import Catalog
from .config import Behaviour
from .intensity import sigmoid
from .pages import PageOutcome, attraction_logit, show_rows
from .population import Population
from .sampling import GroupedSampler

CAROUSEL_TASTE = 1.0          # attraction logit per unit of log relative taste for the item's category


def carousel_attraction(population: Population, catalog: Catalog, users: np.ndarray, items: np.ndarray,
                        price: np.ndarray) -> np.ndarray:
    """P(``users`` click ``items`` they examine in a carousel), at today's ``price`` per item."""
    taste = population.relative_taste[users, catalog.category[items]]
    return sigmoid(attraction_logit(population, catalog, users, items, price) + CAROUSEL_TASTE * np.log(taste))


def run_carousels(sessions_user: np.ndarray, catalog: Catalog, population: Population, on_sale: np.ndarray,
                  price: np.ndarray, behaviour: Behaviour, rng) -> PageOutcome:
    """The day's carousels, all drawn by ``rng`` (their own stream): which sessions see one, what
    the engine shows (``carousel_exploration`` of them a random sample), with each shown item's
    logging propensity, and what is clicked."""
    by_appeal = GroupedSampler(np.zeros(catalog.n_items, dtype=np.int64), catalog.appeal * on_sale, 1)
    return show_rows(np.zeros(len(sessions_user), dtype=np.int64), by_appeal, behaviour.carousel_rate,
                     behaviour.carousel_size, behaviour.carousel_exploration, catalog.n_items,
                     lambda session, item: carousel_attraction(population, catalog, sessions_user[session], item,
                                                               price), rng)
