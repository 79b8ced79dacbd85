"""The category pages' logged propensities are exact: they match how often the engine's
production order and its exploration show each item at each position."""

import numpy as np

from shopml.warehouse.simulator.pages import PAGE_OFFSETS, logging_propensity, production_rows
from shopml.warehouse.simulator.sampling import GroupedSampler

CATEGORY = np.repeat([0, 1], [30, 7])          # category 1 holds fewer items than a page
APPEAL = np.random.default_rng(4).random(37) + 0.1
SIZE, EXPLORATION = 10, 0.2


def _logged_pages(category: int, n: int, rng) -> np.ndarray:
    sampler = GroupedSampler(CATEGORY, APPEAL, 2)
    categories = np.full(n, category)
    pages = production_rows(sampler, categories, rng.integers(0, PAGE_OFFSETS, n), SIZE)
    explored = rng.random(n) < EXPLORATION
    pages[explored] = sampler.uniform_sample(categories[explored], SIZE, rng)
    return pages


def test_page_propensities_match_the_logging_policy_s_frequencies():
    sampler, rng, n = GroupedSampler(CATEGORY, APPEAL, 2), np.random.default_rng(0), 200_000
    for category in (0, 1):
        pages = _logged_pages(category, n, rng)
        frequency = np.zeros((len(CATEGORY), SIZE))
        for position in range(SIZE):
            shown = pages[:, position][pages[:, position] >= 0]
            frequency[:, position] = np.bincount(shown, minlength=len(CATEGORY)) / n
        sample = pages[:300]
        propensity = logging_propensity(sampler, np.full(len(sample), category), sample, EXPLORATION, len(CATEGORY))
        filled = sample >= 0
        expected = frequency[np.maximum(sample, 0), np.arange(SIZE)[None, :]]
        np.testing.assert_allclose(propensity[filled], expected[filled], atol=0.004)
        assert (propensity[filled] > 0).all() and (propensity[~filled] == 0).all()


def test_a_page_shows_no_item_twice_and_stops_at_the_category_s_count():
    pages = _logged_pages(1, 2_000, np.random.default_rng(1))
    assert ((pages >= 0).sum(axis=1) == 7).all() and (pages[:, 7:] == -1).all()
    assert all(len(set(row[row >= 0])) == 7 for row in pages)


def test_a_carousel_s_propensities_match_its_engine_s_frequencies_over_one_group():
    """Carousels draw from the whole catalogue as one group: the same exactness holds."""
    catalogue, rng, n = np.zeros(37, dtype=np.int64), np.random.default_rng(2), 100_000
    sampler = GroupedSampler(catalogue, APPEAL, 1)
    rows = production_rows(sampler, np.zeros(n, dtype=np.int64), rng.integers(0, PAGE_OFFSETS, n), SIZE)
    explored = rng.random(n) < EXPLORATION
    rows[explored] = sampler.uniform_sample(np.zeros(int(explored.sum()), dtype=np.int64), SIZE, rng)
    frequency = np.stack([np.bincount(rows[:, p], minlength=37) / n for p in range(SIZE)], axis=1)
    sample = rows[:300]
    propensity = logging_propensity(sampler, np.zeros(len(sample), dtype=np.int64), sample, EXPLORATION, 37)
    np.testing.assert_allclose(propensity, frequency[sample, np.arange(SIZE)[None, :]], atol=0.005)
