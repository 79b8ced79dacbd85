"""Site search: a shopper intends an item, types a query built from its attributes, the shop's
engine shows ten results, and the shopper clicks by position and relevance.

The engine ranks by appeal (its production policy); for a small share of searches
(``search_exploration``) it shows a uniformly random sample of the query's subcategory in random
order instead, and it logs for every shown item the propensity: the probability that its logging
policy (the mixture of the two) shows that item at that position, exact, summed over every draw of
the production engine's randomness. Learners use the share and the propensities to undo the
exposure bias of the production ranking (as public logs such as Open Bandit allow).

Relevance grades follow one rule (``relevance_grade``, mirrored by the ``truth.search_relevance``
view): 3 the intended item, 2 same subcategory and brand, 1 same subcategory or same category and
brand, 0 otherwise. A search without any click is a failed search, which wears on the shopper.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import text, vocabulary
from .catalog import Catalog
from .config import Behaviour
from .sampling import GroupedSampler

SUBCATEGORY_SLOTS = 7          # the engine fills these from the query's subcategory, the rest from its category
SUB_OFFSETS, CAT_OFFSETS = 4, 12   # the engine starts each list at a random rank below the top (uniform)
FOUND_SLOT_P = 0.45            # a found intended item goes to slot k with P ~ geometric(FOUND_SLOT_P)
EXAMINATION_DECAY = 0.9        # P(examine position p) = p ** -EXAMINATION_DECAY


@dataclass
class SearchCatalogView:
    """Today's on-sale items, grouped the ways search needs them."""

    wanted: GroupedSampler            # by category, weighted by appeal: what people look for
    by_category: GroupedSampler       # ranked by the engine's score: the lists' category part
    by_subcategory: GroupedSampler    # ranked by the engine's score: the lists' subcategory part


def search_catalog_view(catalog: Catalog, on_sale: np.ndarray, rank: np.ndarray | None = None) -> SearchCatalogView:
    """The view of the items ``on_sale``, the engine ranking by ``rank`` (per item, above 0; None:
    by appeal, the production engine's order). What people look for is drawn by appeal either way."""
    categories, subcategories = len(vocabulary.CATEGORIES), int(catalog.subcategory.max()) + 1
    wanted = GroupedSampler(catalog.category, catalog.appeal * on_sale, categories)
    score = catalog.appeal if rank is None else rank
    return SearchCatalogView(
        wanted=wanted,
        by_category=wanted if rank is None else GroupedSampler(catalog.category, score * on_sale, categories),
        by_subcategory=GroupedSampler(catalog.subcategory, score * on_sale, subcategories))


@dataclass
class SearchOutcome:
    session: np.ndarray            # per search: index of its session
    intended: np.ndarray           # per search: the item the shopper had in mind
    query: np.ndarray
    failed: np.ndarray             # per search: nothing clicked
    explored: np.ndarray           # per search: the engine showed a random sample of the subcategory
    shown_search: np.ndarray       # per impression: index of its search
    shown_item: np.ndarray
    shown_position: np.ndarray     # 1-based
    shown_grade: np.ndarray
    shown_p_click: np.ndarray
    shown_clicked: np.ndarray
    shown_propensity: np.ndarray   # P(the logging policy shows this item at this position)


def relevance_grade(catalog: Catalog, intended: np.ndarray, item: np.ndarray) -> np.ndarray:
    same_sub = catalog.subcategory[item] == catalog.subcategory[intended]
    same_brand = catalog.brand[item] == catalog.brand[intended]
    same_cat = catalog.category[item] == catalog.category[intended]
    return np.select(
        [item == intended, same_sub & same_brand, same_sub | (same_cat & same_brand)], [3, 2, 1], 0
    )


def _geometric_slots(slots: int) -> np.ndarray:
    """P(the engine places a found intended item in slot k), k = 0..slots-1: a geometric draw, the
    tail folded into the last slot."""
    p = FOUND_SLOT_P * (1 - FOUND_SLOT_P) ** np.arange(slots)
    p[-1] = (1 - FOUND_SLOT_P) ** (slots - 1)
    return p


def _ranked_parts(view: SearchCatalogView, subcategory, category, sub_offset: int, cat_offset: int,
                  slots: int) -> tuple[np.ndarray, np.ndarray]:
    """The production engine's two parts of each list: (searches, SUBCATEGORY_SLOTS) of the
    subcategory's items ranked by appeal from ``sub_offset``, and the rest of the slots from the
    category's from ``cat_offset``."""
    rank = np.arange(slots)
    tail = slots - SUBCATEGORY_SLOTS
    return (view.by_subcategory.ranked(np.repeat(subcategory, SUBCATEGORY_SLOTS),
                                       np.tile(sub_offset + rank[:SUBCATEGORY_SLOTS], len(subcategory))
                                       ).reshape(-1, SUBCATEGORY_SLOTS),
            view.by_category.ranked(np.repeat(category, tail), np.tile(cat_offset + rank[:tail], len(category))
                                    ).reshape(-1, tail))


def _placed(parts: np.ndarray, intended: np.ndarray, slot: np.ndarray) -> np.ndarray:
    """``parts`` (..., searches, slots) with the intended item moved to ``slot`` (-1: not found,
    so not shown), later copies of an item and empty slots dropped, the rest closed up."""
    results = np.where(parts == intended[:, None], -1, parts)
    found = np.arange(parts.shape[-1]) == slot[..., None]
    return _closed_up(_drop_repeats(np.where(found, intended[:, None], results)))


def _production_lists(view: SearchCatalogView, intended, subcategory, category, sub_offset, cat_offset,
                      found, slot, slots: int) -> np.ndarray:
    """(searches, slots) item ids the production engine shows for given draws of its randomness,
    empty slots (-1) at the end: the subcategory's items ranked by appeal from ``sub_offset``, then
    the category's from ``cat_offset``, and the intended item in ``slot`` where ``found``."""
    parts = np.full((len(intended), slots), -1)
    for sub in range(SUB_OFFSETS):
        for cat in range(CAT_OFFSETS):
            drawn = (sub_offset == sub) & (cat_offset == cat)
            parts[drawn] = np.concatenate(_ranked_parts(view, subcategory[drawn], category[drawn], sub, cat, slots),
                                          axis=1)
    return _placed(parts, intended, np.where(found, slot, -1))


def _production_propensity(view: SearchCatalogView, intended, subcategory, category, shown: np.ndarray,
                           behaviour: Behaviour) -> np.ndarray:
    """(searches, slots): P(the production engine shows, at each position, the item ``shown`` has
    there), summed exactly over every draw of its offsets, of whether it finds the intended item
    and of the slot it puts it in.

    A list is its subcategory part, then its category part, closed up; the subcategory part's
    shown items (the first positions) depend on its offset and on the intended item's slot only,
    so they are enumerated once per offset; a category slot's item is shown unless an earlier slot
    holds it, at the position after the subcategory part's shown items and the category slots
    kept before it."""
    n, slots = shown.shape
    head_slots = np.arange(SUBCATEGORY_SLOTS)
    placement = np.arange(-1, slots)[:, None, None]                # -1: not found, else the slot it goes to
    weight = np.concatenate([[1 - behaviour.found_rate], behaviour.found_rate * _geometric_slots(slots)])
    intended, shown = intended[:, None].astype(np.int32), shown.astype(np.int32)    # half the memory traffic
    propensity = np.zeros(shown.shape)
    cat_parts = [_ranked_parts(view, subcategory, category, 0, cat, slots)[1].astype(np.int32)
                 for cat in range(CAT_OFFSETS)]
    cat_placed = [np.where(placement == SUBCATEGORY_SLOTS + np.arange(slots - SUBCATEGORY_SLOTS), intended,
                           np.where(cat == intended, -1, cat)) for cat in cat_parts]      # (placements, n, tail)
    for sub_offset in range(SUB_OFFSETS):
        sub = _ranked_parts(view, subcategory, category, sub_offset, 0, slots)[0].astype(np.int32)
        placed = np.where(placement == head_slots, intended, np.where(sub == intended, -1, sub))  # (placements, n, 7)
        head = _closed_up(_drop_repeats(placed))
        propensity[:, :SUBCATEGORY_SLOTS] += np.tensordot(weight, head == shown[:, :SUBCATEGORY_SLOTS], axes=1) / SUB_OFFSETS
        before = (head >= 0).sum(axis=-1, keepdims=True)          # positions the subcategory part fills
        for raw, cat in zip(cat_parts, cat_placed):
            # a category item is dropped when a subcategory slot holds it (unless the intended item took that slot) ...
            same = sub[:, :, None] == raw[:, None, :]               # (n, 7, tail)
            taken = np.zeros((len(weight), *same.shape[::2]), dtype=int)       # the slot the intended item took
            taken[1:1 + SUBCATEGORY_SLOTS] = same.transpose(1, 0, 2)
            in_head = same.sum(axis=1) - taken > 0
            # ... or an earlier category slot
            repeat = np.stack([(cat[..., :j] == cat[..., j:j + 1]).any(axis=-1) for j in range(cat.shape[-1])], axis=-1)
            kept = (cat >= 0) & ~in_head & ~repeat
            position = before + np.cumsum(kept, axis=-1) - 1       # 0-based, where kept
            at = np.take_along_axis(np.broadcast_to(shown, (len(weight), n, slots)), np.minimum(position, slots - 1),
                                    axis=-1)
            which, row, column = np.nonzero(kept & (at == cat))
            propensity += np.bincount(row * slots + position[which, row, column], minlength=n * slots,
                                      weights=weight[which] / (SUB_OFFSETS * CAT_OFFSETS)).reshape(n, slots)
    return np.where(shown >= 0, propensity, 0.0)


def _closed_up(results: np.ndarray) -> np.ndarray:
    """Each row's items moved to the front in order, the empty slots (-1) after them."""
    filled = results >= 0
    where = np.nonzero(filled)
    closed = np.full_like(results, -1)
    closed[(*where[:-1], (np.cumsum(filled, axis=-1) - 1)[filled])] = results[filled]
    return closed


def _drop_repeats(results: np.ndarray) -> np.ndarray:
    """Blank every later copy of an item within a row (of the last axis)."""
    kept = results.copy()
    for j in range(1, results.shape[-1]):
        kept[..., j][(results[..., :j] == results[..., j:j + 1]).any(axis=-1)] = -1
    return kept


def run_searches(session_category, catalog, view, behaviour: Behaviour, rng, exploration_rng,
                 logs_propensity: bool = True) -> SearchOutcome:
    """The day's searches: who searches for what, what the engine shows (by its ranking, or for
    ``search_exploration`` of the searches a random sample of the subcategory, drawn by
    ``exploration_rng``), with each shown item's logging propensity (NaN unless
    ``logs_propensity``: a replay needs only what people do), and what is clicked."""
    searching = np.flatnonzero(rng.random(len(session_category)) < behaviour.search_rate)
    intended = view.wanted.draw(session_category[searching], rng)
    searching, intended = searching[intended >= 0], intended[intended >= 0]
    query = text.search_queries(catalog.brand[intended], catalog.adjective[intended],
                                catalog.colour[intended], catalog.noun[intended],
                                catalog.category[intended], rng)
    n, slots = len(intended), behaviour.results_per_search
    subcategory, category = catalog.subcategory[intended], catalog.category[intended]
    results = _production_lists(view, intended, subcategory, category, rng.integers(0, SUB_OFFSETS, n),
                                rng.integers(0, CAT_OFFSETS, n), rng.random(n) < behaviour.found_rate,
                                np.minimum(rng.geometric(FOUND_SLOT_P, n) - 1, slots - 1), slots)
    explored = exploration_rng.random(n) < behaviour.search_exploration
    results[explored] = view.by_subcategory.uniform_sample(subcategory[explored], slots, exploration_rng)
    propensity = np.full(results.shape, np.nan)
    if logs_propensity:
        in_pool = (results >= 0) & (catalog.subcategory[np.maximum(results, 0)] == subcategory[:, None])
        propensity = ((1 - behaviour.search_exploration)
                      * _production_propensity(view, intended, subcategory, category, results, behaviour)
                      + behaviour.search_exploration * in_pool
                      / np.maximum(view.by_subcategory.count[subcategory], 1)[:, None])
    shown = results >= 0
    row, column = np.nonzero(shown)
    item, position = results[shown], column + 1
    grade = relevance_grade(catalog, intended[row], item)
    attraction = np.asarray(behaviour.search_attraction)[grade]
    p_click = attraction * position.astype(float) ** -EXAMINATION_DECAY
    clicked = rng.random(len(item)) < p_click
    clicks_per_search = np.bincount(row, weights=clicked, minlength=len(searching))
    return SearchOutcome(
        session=searching, intended=intended, query=query, failed=clicks_per_search == 0, explored=explored,
        shown_search=row, shown_item=item, shown_position=position, shown_grade=grade,
        shown_p_click=p_click, shown_clicked=clicked, shown_propensity=propensity[shown],
    )
