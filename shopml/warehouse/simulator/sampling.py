"""Vectorised draws used across the simulator: weighted picks within groups, expanding counts."""

from __future__ import annotations

import numpy as np


class GroupedSampler:
    """Draws a member of a given group with probability proportional to its weight, for many
    rows at once (e.g. an item within a category, weighted by appeal). Returns -1 for a group
    without any member of positive weight."""

    def __init__(self, group_of_member: np.ndarray, weights: np.ndarray, n_groups: int):
        """Members are kept by group and, within a group, by falling weight (for ``ranked``)."""
        keep = np.flatnonzero(weights > 0)
        order = keep[np.lexsort((-weights[keep], group_of_member[keep]))]
        self.members = order
        self.cumulative = np.cumsum(weights[order])
        groups = group_of_member[order]
        self.first = np.searchsorted(groups, np.arange(n_groups), side="left")
        self.stop = np.searchsorted(groups, np.arange(n_groups), side="right")
        self.count = self.stop - self.first

    def draw(self, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        first, stop = self.first[groups], self.stop[groups]
        empty = stop == first
        low = np.where(first > 0, self.cumulative[np.maximum(first - 1, 0)], 0.0)
        high = self.cumulative[np.maximum(stop - 1, 0)]
        target = low + rng.random(len(groups)) * (high - low)
        position = np.clip(np.searchsorted(self.cumulative, target, side="right"), first, np.maximum(stop - 1, first))
        return np.where(empty, -1, self.members[np.minimum(position, len(self.members) - 1)])

    def uniform_sample(self, groups: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        """(rows, k): a uniformly random sample of each group's members in random order (-1 past
        the group's count), whatever their weights: what an engine's exploration shows."""
        ranks = uniform_ranks(self.count[groups], k, rng)
        return np.where(ranks >= 0, self.members[self.first[groups][:, None] + np.maximum(ranks, 0)], -1)

    def ranked(self, groups: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """The member at cyclic rank ``offsets`` of each group, rank 0 being the heaviest."""
        count = np.maximum(self.count[groups], 1)
        return np.where(self.count[groups] > 0, self.members[self.first[groups] + offsets % count], -1)


def uniform_ranks(count: np.ndarray, k: int, rng) -> np.ndarray:
    """(rows, k): distinct ranks in [0, count) in uniformly random order (-1 past ``count``), so
    every rank lands in every position with probability 1 / count."""
    picks = np.full((len(count), k), -1, dtype=np.int64)
    for j in range(k):
        rank = rng.integers(0, np.maximum(count - j, 1))              # among the ranks not yet picked
        for earlier in np.sort(np.where(picks[:, :j] >= 0, picks[:, :j], np.iinfo(np.int64).max), axis=1).T:
            rank += rank >= earlier                                   # step past each earlier pick, smallest first
        picks[:, j] = np.where(count > j, rank, -1)
    return picks


class Groups:
    """Rows grouped by an integer key (e.g. views by session), sorted once, for the best row of
    every group by any number of values."""

    def __init__(self, key: np.ndarray):
        self.order = np.argsort(key, kind="stable")
        sorted_key = key[self.order]
        self.starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]]) if len(key) else np.array([], int)
        self.keys = sorted_key[self.starts]                 # each group's key, ascending
        self.member_group = np.repeat(np.arange(len(self.starts)), np.diff(np.r_[self.starts, len(key)]))

    def best(self, value: np.ndarray) -> np.ndarray:
        """Per group (in ``keys`` order), the row with the largest ``value``; of equals, the first."""
        if not len(self.starts):
            return np.array([], dtype=np.int64)
        ordered = value[self.order]
        top = np.flatnonzero(ordered == np.maximum.reduceat(ordered, self.starts)[self.member_group])
        return self.order[top[np.searchsorted(self.member_group[top], np.arange(len(self.starts)))]]


def expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows with ``counts`` children: the parent row of each child and its rank among siblings."""
    parent = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    rank = np.arange(len(parent)) - starts[parent]
    return parent, rank
