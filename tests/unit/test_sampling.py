import numpy as np

from shopml.warehouse.simulator.sampling import GroupedSampler, expand


def test_draws_stay_in_their_group_in_proportion_to_weight():
    group = np.array([0, 1, 0, 1, 0, 2])
    weights = np.array([1.0, 1.0, 3.0, 0.0, 6.0, 2.0])
    sampler = GroupedSampler(group, weights, n_groups=4)
    rng = np.random.default_rng(0)
    draws = sampler.draw(np.zeros(100_000, dtype=int), rng)
    counts = np.bincount(draws, minlength=6) / len(draws)
    np.testing.assert_allclose(counts[[0, 2, 4]], [0.1, 0.3, 0.6], atol=0.01)
    assert counts[[1, 3, 5]].sum() == 0
    assert set(sampler.draw(np.ones(1000, dtype=int), rng)) == {1}      # zero weight never drawn
    assert set(sampler.draw(np.full(10, 3), rng)) == {-1}               # empty group


def test_ranked_walks_a_group_from_heaviest_cyclically():
    sampler = GroupedSampler(np.array([0, 0, 0, 1]), np.array([1.0, 5.0, 3.0, 2.0]), n_groups=2)
    assert sampler.ranked(np.zeros(4, dtype=int), np.arange(4)).tolist() == [1, 2, 0, 1]
    assert sampler.ranked(np.array([1]), np.array([7])).tolist() == [3]


def test_expand_gives_parents_and_ranks():
    parent, rank = expand(np.array([2, 0, 3]))
    assert parent.tolist() == [0, 0, 2, 2, 2]
    assert rank.tolist() == [0, 1, 0, 1, 2]
