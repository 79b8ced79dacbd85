"""Daily list prices: occasional item price moves, supplier price rises per category, promotions.

The category price index (appeal-weighted mean of price / base price over items on sale) is what
moves category demand through elasticity; the index of *list levels* (promotions left out) is what
customers remember, so a rise in it over four weeks is the "price rise" churn pressure.

``policy`` multiplies every item's list price (1 by default): the shop's own pricing decision, which
the what-if engine (``whatif``) sets from a cut-off on. A policy's rise counts as a rise customers
remember, as any other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import vocabulary as vocab
from .catalog import Catalog
from .config import SimulationConfig


@dataclass
class DayPrices:
    price: np.ndarray              # per item, today's shelf price
    on_promo: np.ndarray           # per item
    on_sale: np.ndarray            # per item: launched by today
    category_index: np.ndarray     # per category: demand-weighted price / base price
    category_rise: np.ndarray      # per category: max(0, log list-level rise over the lookback)


def _weighted_category_mean(values, weights, category, n_categories) -> np.ndarray:
    total = np.bincount(category, weights=weights, minlength=n_categories)
    return np.bincount(category, weights=values * weights, minlength=n_categories) / np.maximum(total, 1e-12)


class PriceProcess:
    def __init__(self, catalog: Catalog, config: SimulationConfig):
        self.catalog, self.behaviour = catalog, config.behaviour
        n = catalog.n_items
        self.level = np.ones(n)
        self.policy = np.ones(n)
        self.promo_until = np.full(n, -1)
        self.promo_discount = np.zeros(n)
        self.n_categories = len(vocab.CATEGORIES)
        lookback = self.behaviour.price_rise_lookback_days
        self.level_history = [np.zeros(self.n_categories)] * lookback  # log list-level index

    def step(self, day: int, rng: np.random.Generator) -> DayPrices:
        b, cat = self.behaviour, self.catalog
        n = cat.n_items
        moves = rng.random(n) < b.price_change_rate
        self.level[moves] *= np.exp(rng.normal(0.01, 0.08, moves.sum()))
        rising = rng.random(self.n_categories) < b.category_rise_rate
        self.level *= np.exp(np.where(rising, rng.uniform(0.08, 0.2, self.n_categories), 0.0))[cat.category]
        starts = (self.promo_until <= day) & (rng.random(n) < b.promo_start_rate)
        self.promo_until[starts] = day + rng.integers(3, 8, starts.sum())
        self.promo_discount[starts] = rng.uniform(0.1, 0.3, starts.sum())

        on_promo = self.promo_until > day
        listed = self.level * self.policy
        price = np.round(cat.base_price * listed * (1 - self.promo_discount * on_promo), 2)
        on_sale = cat.launch_day <= day
        weights = cat.appeal * on_sale
        index = _weighted_category_mean(price / cat.base_price, weights, cat.category, self.n_categories)
        log_level = np.log(_weighted_category_mean(listed, weights, cat.category, self.n_categories))
        rise = np.maximum(0.0, log_level - self.level_history[-b.price_rise_lookback_days])
        self.level_history.append(log_level)
        return DayPrices(price=price, on_promo=on_promo, on_sale=on_sale,
                         category_index=index, category_rise=rise)
