"""The search engine's logged propensities are exact: they match how often its production
ranking and its exploration show each item at each position."""

import numpy as np

from shopml.warehouse.simulator.config import Behaviour
from shopml.warehouse.simulator.sampling import GroupedSampler, uniform_ranks
from shopml.warehouse.simulator.search import (
    CAT_OFFSETS, FOUND_SLOT_P, SUB_OFFSETS, SearchCatalogView, _production_lists, _production_propensity,
)

# 30 items: category 0 holds subcategories 0 (items 0-11) and 1 (12-19), category 1 the rest
SUBCATEGORY = np.repeat([0, 1, 2], [12, 8, 10])
CATEGORY = np.repeat([0, 0, 1], [12, 8, 10])
APPEAL = np.random.default_rng(3).random(30) + 0.1


def _view() -> SearchCatalogView:
    by_category = GroupedSampler(CATEGORY, APPEAL, 2)
    return SearchCatalogView(wanted=by_category, by_category=by_category,
                             by_subcategory=GroupedSampler(SUBCATEGORY, APPEAL, 3))


def test_production_propensities_match_the_engine_s_frequencies():
    behaviour, view, rng, n = Behaviour(), _view(), np.random.default_rng(0), 200_000
    intended = np.full(n, 5)
    slots = behaviour.results_per_search
    lists = _production_lists(view, intended, SUBCATEGORY[intended], CATEGORY[intended],
                              rng.integers(0, SUB_OFFSETS, n), rng.integers(0, CAT_OFFSETS, n),
                              rng.random(n) < behaviour.found_rate,
                              np.minimum(rng.geometric(FOUND_SLOT_P, n) - 1, slots - 1), slots)
    frequency = np.zeros((30, slots))
    for position in range(slots):
        shown = lists[:, position][lists[:, position] >= 0]
        frequency[:, position] = np.bincount(shown, minlength=30) / n
    sample = lists[:200]
    propensity = _production_propensity(view, intended[:200], SUBCATEGORY[intended[:200]],
                                        CATEGORY[intended[:200]], sample, behaviour)
    filled = sample >= 0
    expected = frequency[np.maximum(sample, 0), np.arange(slots)[None, :]]
    np.testing.assert_allclose(propensity[filled], expected[filled], atol=0.004)
    assert (propensity[filled] > 0).all() and (propensity[~filled] == 0).all()


def test_exploration_shows_every_item_everywhere_with_equal_probability():
    ranks = uniform_ranks(np.full(100_000, 13), 10, np.random.default_rng(1))
    assert all(len(set(row)) == 10 for row in ranks[:1000])                 # no item twice
    for position in range(10):
        np.testing.assert_allclose(np.bincount(ranks[:, position], minlength=13) / len(ranks), 1 / 13, atol=0.004)
    short = uniform_ranks(np.array([4, 0]), 10, np.random.default_rng(2))
    assert sorted(short[0, :4]) == [0, 1, 2, 3] and (short[0, 4:] == -1).all() and (short[1] == -1).all()
