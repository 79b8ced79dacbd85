"""Category pages: a share of sessions (``page_rate``) opens the page of its category, where the
shop's engine shows ``page_size`` items in a row, and the shopper clicks by position and by how
much each item attracts them.

The engine orders a page by appeal (its production policy), starting at a random rank below the
top; for a small share of pages (``page_exploration``) it shows a uniformly random sample of the
category's on-sale items in random order instead. It logs, for every shown item, its position and
the propensity: the exact probability that the logging policy (the mixture) shows that item at
that position.

A shopper examines position p with P = p ** -EXAMINATION_DECAY (as in search) and clicks an
examined item with its attraction, personal through price: a logit of the item's quality and
appeal, less the user's price sensitivity times the item's log price against its category's
median. The truth keeps each shown item's attraction and click probability, so any order of a
page's items has a known expected number of clicks.

Pages are logged beside the session's path: their clicks are recorded on the impressions and do
not open views or move purchases, so the rest of the shop (and every other task's truth) is what
it was without them. Their random numbers come from their own stream (``world.page_rng``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import vocabulary as vocab
from .catalog import CATEGORY_MEDIAN_PRICE, Catalog
from .config import Behaviour
from .intensity import sigmoid
from .population import Population
from .sampling import GroupedSampler
from .search import EXAMINATION_DECAY

PAGE_OFFSETS = 4               # the production page starts at a rank drawn uniformly from 0..PAGE_OFFSETS-1
ATTRACTION_BASE = -1.6         # logit of an item of average quality and appeal at its category's median price
ATTRACTION_QUALITY = 0.5
ATTRACTION_APPEAL = 0.3        # per unit of log appeal
ATTRACTION_PRICE = 1.5         # per unit of price sensitivity and of log price over the category median
MEDIAN_PRICE = np.array([CATEGORY_MEDIAN_PRICE[c] for c in vocab.CATEGORIES])


@dataclass
class PageOutcome:
    session: np.ndarray            # per page: index of its session
    explored: np.ndarray           # per page: the engine showed a random sample of the category
    shown_page: np.ndarray         # per impression: index of its page
    shown_item: np.ndarray
    shown_position: np.ndarray     # 1-based
    shown_attraction: np.ndarray   # P(click | examined)
    shown_p_click: np.ndarray
    shown_clicked: np.ndarray
    shown_propensity: np.ndarray   # P(the logging policy shows this item at this position)


def attraction(population: Population, catalog: Catalog, users: np.ndarray, items: np.ndarray,
               price: np.ndarray) -> np.ndarray:
    """P(``users`` click ``items`` they examine on a category page), at today's ``price`` per item."""
    return sigmoid(attraction_logit(population, catalog, users, items, price))


def attraction_logit(population: Population, catalog: Catalog, users: np.ndarray, items: np.ndarray,
                     price: np.ndarray) -> np.ndarray:
    relative_price = np.log(price[items] / MEDIAN_PRICE[catalog.category[items]])
    return (ATTRACTION_BASE + ATTRACTION_QUALITY * catalog.quality[items] + ATTRACTION_APPEAL * np.log(
        catalog.appeal[items]) - ATTRACTION_PRICE * population.price_sensitivity[users] * relative_price)


def production_rows(by_group: GroupedSampler, group: np.ndarray, offset: np.ndarray, size: int) -> np.ndarray:
    """(rows, size): the group's members by falling weight from rank ``offset`` (cyclic), -1 past
    the group's count."""
    position = np.arange(size)
    items = by_group.ranked(np.repeat(group, size), (offset[:, None] + position).reshape(-1)).reshape(-1, size)
    return np.where(position < by_group.count[group][:, None], items, -1)


def logging_propensity(by_group: GroupedSampler, group: np.ndarray, rows: np.ndarray, exploration: float,
                       n_items: int) -> np.ndarray:
    """(rows, size): P(the logging policy shows each shown item at its position): the production
    policy shows rank r at position j for the offsets o with (o + j) mod count = r, the
    exploration policy any member of the group anywhere with 1 / count."""
    count = np.maximum(by_group.count[group], 1)[:, None]
    rank = np.full(n_items, -1)
    rank[by_group.members] = np.arange(len(by_group.members)) - np.repeat(by_group.first, by_group.count)
    shown_rank = np.where(rows >= 0, rank[np.maximum(rows, 0)], -1)
    position = np.arange(rows.shape[1])
    production = sum(((offset + position) % count == shown_rank) for offset in range(PAGE_OFFSETS)) / PAGE_OFFSETS
    return np.where(rows >= 0, (1 - exploration) * production + exploration / count, 0.0)


def run_pages(sessions_user: np.ndarray, sessions_category: np.ndarray, catalog: Catalog, population: Population,
              by_category: GroupedSampler, price: np.ndarray, behaviour: Behaviour, rng) -> PageOutcome:
    """The day's category pages, all drawn by ``rng`` (the pages' own stream): which sessions open
    one, what the engine shows (``page_exploration`` of them a random sample), with each shown
    item's logging propensity, and what is clicked."""
    return show_rows(sessions_category, by_category, behaviour.page_rate, behaviour.page_size,
                     behaviour.page_exploration, catalog.n_items,
                     lambda session, item: attraction(population, catalog, sessions_user[session], item, price), rng)


def show_rows(sessions_group: np.ndarray, by_group: GroupedSampler, rate: float, size: int, exploration: float,
              n_items: int, attraction_of, rng) -> PageOutcome:
    """Rows of ``size`` items an engine shows to a share ``rate`` of the sessions: each session's
    group's members by falling weight from a random rank below the top, or for ``exploration`` of
    the rows a uniform random sample of the group in random order; with each shown item's logging
    propensity, and clicks by the examination of its position times ``attraction_of(session,
    item)`` (arrays of the rows' sessions and items). Every draw is ``rng``'s."""
    session = np.flatnonzero(rng.random(len(sessions_group)) < rate)
    group = sessions_group[session]
    rows = production_rows(by_group, group, rng.integers(0, PAGE_OFFSETS, len(session)), size)
    explored = rng.random(len(session)) < exploration
    rows[explored] = by_group.uniform_sample(group[explored], size, rng)
    propensity = logging_propensity(by_group, group, rows, exploration, n_items)
    shown = rows >= 0
    row, column = np.nonzero(shown)
    item = rows[shown]
    attracts = attraction_of(session[row], item)
    p_click = attracts * (column + 1.0) ** -EXAMINATION_DECAY
    return PageOutcome(session=session, explored=explored, shown_page=row, shown_item=item,
                       shown_position=column + 1, shown_attraction=attracts, shown_p_click=p_click,
                       shown_clicked=rng.random(len(item)) < p_click, shown_propensity=propensity[shown])
