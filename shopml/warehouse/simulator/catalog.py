"""The catalogue: items with hidden quality and appeal, their ads, and per-category elasticity.

Brands carry part of an item's quality (some brands are simply better), appeal is popularity
(it decides what gets viewed) and is mildly correlated with quality. Most items exist before the
simulated window; some launch during it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import text
from . import vocabulary as vocab
from .config import SimulationConfig

CATEGORY_MEDIAN_PRICE = {
    "electronics": 55.0, "fashion": 42.0, "home": 30.0, "beauty": 18.0, "sports": 34.0,
    "toys": 24.0, "books": 13.0, "grocery": 8.0, "pets": 19.0, "garden": 27.0,
}
SUBCATEGORIES_PER_CATEGORY = 4
LAUNCHED_DURING_RUN = 0.15


@dataclass
class Catalog:
    category: np.ndarray        # int, index into vocab.CATEGORIES
    subcategory: np.ndarray     # int, global index into text.SUBCATEGORY_NAMES
    brand: np.ndarray           # int, index into text.BRANDS.words
    adjective: np.ndarray       # int, index into text.ADJECTIVES.words
    colour: np.ndarray
    noun: np.ndarray            # int, index into text.NOUNS.words
    base_price: np.ndarray
    launch_day: np.ndarray      # day index relative to the first simulated day (negative = before)
    quality: np.ndarray
    appeal: np.ndarray
    title: np.ndarray
    description: np.ndarray
    elasticity: np.ndarray      # per category
    ad_item: np.ndarray         # per ad: item index
    ad_quality: np.ndarray
    ad_creative: np.ndarray
    defect_day: np.ndarray      # the day a bad batch lowers the item's quality; -1: never
    defect_drop: float

    def experienced_quality(self, item: np.ndarray, day: int) -> np.ndarray:
        """The quality a buyer of ``item`` meets on ``day`` (lower after a defect)."""
        defective = (self.defect_day[item] >= 0) & (self.defect_day[item] <= day)
        return self.quality[item] - self.defect_drop * defective

    @property
    def n_items(self) -> int:
        return len(self.category)

    @property
    def ad_category(self) -> np.ndarray:
        return self.category[self.ad_item]


def build_catalog(config: SimulationConfig, rng: np.random.Generator, text_rng: np.random.Generator) -> Catalog:
    """The catalogue; ``text_rng`` writes its titles and descriptions."""
    n, b = config.n_items, config.behaviour
    n_categories = len(vocab.CATEGORIES)
    category = rng.choice(n_categories, size=n, p=rng.dirichlet(np.full(n_categories, 8.0)))
    subcategory = category * SUBCATEGORIES_PER_CATEGORY + rng.integers(0, SUBCATEGORIES_PER_CATEGORY, n)
    noun = text.NOUNS.draw(subcategory, rng)
    brand = text.BRANDS.draw(category, rng)
    adjective = text.ADJECTIVES.draw(category, rng)
    colour = rng.integers(0, len(text.COLOURS), n)
    variant = rng.integers(0, len(text.VARIANTS), n)

    brand_quality = rng.normal(0.0, 0.6, len(text.BRANDS.words))
    quality = brand_quality[brand] + rng.normal(0.0, 0.8, n)
    appeal = np.exp(0.3 * quality + rng.normal(0.0, 0.9, n))
    median_price = np.array([CATEGORY_MEDIAN_PRICE[c] for c in vocab.CATEGORIES])
    base_price = np.round(median_price[category] * np.exp(rng.normal(0.0, 0.5, n) + 0.1 * quality), 0) - 0.01
    base_price = np.maximum(base_price, 0.99)
    launched_during = rng.random(n) < LAUNCHED_DURING_RUN
    launch_day = np.where(launched_during, rng.integers(0, config.days, n), rng.integers(-720, 0, n))

    title_noun = text.title_nouns(noun, config.writing, text_rng)
    titles = text.item_titles(brand, adjective, colour, title_noun, variant)
    ad_item = _pick_ad_items(config.n_ads, launch_day, appeal, rng)
    on_sale = np.flatnonzero(launch_day < 0)       # a bad batch is met where items sell: drawn by appeal
    defective = rng.choice(on_sale, size=round(b.defect_share * len(on_sale)), replace=False,
                           p=appeal[on_sale] / appeal[on_sale].sum())
    defect_day = np.full(n, -1)
    defect_day[defective] = rng.integers(config.days // 2, max(config.days // 2 + 1, config.days), len(defective))
    return Catalog(
        category=category, subcategory=subcategory, brand=brand, adjective=adjective,
        colour=colour, noun=noun, base_price=base_price, launch_day=launch_day, quality=quality,
        appeal=appeal, title=titles, description=text.item_descriptions(category, title_noun, text_rng),
        elasticity=rng.uniform(*b.elasticity_range, n_categories),
        ad_item=ad_item, ad_quality=rng.normal(0.0, 0.7, len(ad_item)),
        ad_creative=text.ad_creatives(titles[ad_item], rng),
        defect_day=defect_day, defect_drop=b.defect_quality_drop,
    )


def _pick_ad_items(n_ads: int, launch_day: np.ndarray, appeal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Distinct items already on sale when the run starts, favouring popular ones."""
    eligible = np.flatnonzero(launch_day < 0)
    weights = appeal[eligible] / appeal[eligible].sum()
    return rng.choice(eligible, size=min(n_ads, len(eligible)), replace=False, p=weights)
