"""Site search: a shopper intends an item, types a query built from its attributes, the shop's
engine shows ten results, and the shopper clicks by position and relevance.

Relevance grades follow one rule (``relevance_grade``, mirrored by the ``truth.search_relevance``
view): 3 the intended item, 2 same subcategory and brand, 1 same subcategory or same category and
brand, 0 otherwise. A search without any click is a failed search, which wears on the shopper.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import text
from .catalog import Catalog
from .config import Behaviour
from .sampling import GroupedSampler

SUBCATEGORY_SLOTS = 7          # the engine fills these from the query's subcategory, the rest from its category
EXAMINATION_DECAY = 0.9        # P(examine position p) = p ** -EXAMINATION_DECAY


@dataclass
class SearchCatalogView:
    """Today's on-sale items, grouped the ways search needs them."""

    by_category: GroupedSampler       # weighted by appeal: what people look for
    by_subcategory: GroupedSampler    # ranked by appeal: the engine's result lists


@dataclass
class SearchOutcome:
    session: np.ndarray            # per search: index of its session
    intended: np.ndarray           # per search: the item the shopper had in mind
    query: np.ndarray
    failed: np.ndarray             # per search: nothing clicked
    shown_search: np.ndarray       # per impression: index of its search
    shown_item: np.ndarray
    shown_position: np.ndarray     # 1-based
    shown_grade: np.ndarray
    shown_p_click: np.ndarray
    shown_clicked: np.ndarray


def relevance_grade(catalog: Catalog, intended: np.ndarray, item: np.ndarray) -> np.ndarray:
    same_sub = catalog.subcategory[item] == catalog.subcategory[intended]
    same_brand = catalog.brand[item] == catalog.brand[intended]
    same_cat = catalog.category[item] == catalog.category[intended]
    return np.select(
        [item == intended, same_sub & same_brand, same_sub | (same_cat & same_brand)], [3, 2, 1], 0
    )


def _result_lists(catalog, view, intended, behaviour, rng) -> np.ndarray:
    """(searches, slots) item ids as the engine ranks them, -1 where a slot stays empty."""
    n, slots = len(intended), behaviour.results_per_search
    rank = np.arange(slots)[None, :]
    sub_offset = rng.integers(0, 4, (n, 1)) + rank[:, :SUBCATEGORY_SLOTS]
    cat_offset = rng.integers(0, 12, (n, 1)) + rank[:, : slots - SUBCATEGORY_SLOTS]
    sub = np.repeat(catalog.subcategory[intended][:, None], SUBCATEGORY_SLOTS, axis=1)
    cat = np.repeat(catalog.category[intended][:, None], slots - SUBCATEGORY_SLOTS, axis=1)
    results = np.concatenate([
        view.by_subcategory.ranked(sub.ravel(), sub_offset.ravel()).reshape(sub.shape),
        view.by_category.ranked(cat.ravel(), cat_offset.ravel()).reshape(cat.shape),
    ], axis=1)
    found = rng.random(n) < behaviour.found_rate
    results[results == intended[:, None]] = -1                    # placed only where found
    slot = np.minimum(rng.geometric(0.45, n) - 1, slots - 1)
    results[np.flatnonzero(found), slot[found]] = intended[found]
    return _drop_repeats(results)


def _drop_repeats(results: np.ndarray) -> np.ndarray:
    """Blank every later copy of an item within a row."""
    order = np.argsort(results, axis=1, kind="stable")
    ordered = np.take_along_axis(results, order, axis=1)
    repeat = np.zeros_like(results, dtype=bool)
    repeat[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    blank = np.zeros_like(repeat)
    np.put_along_axis(blank, order, repeat, axis=1)
    return np.where(blank, -1, results)


def run_searches(session_category, catalog, view, behaviour: Behaviour, rng) -> SearchOutcome:
    searching = np.flatnonzero(rng.random(len(session_category)) < behaviour.search_rate)
    intended = view.by_category.draw(session_category[searching], rng)
    searching, intended = searching[intended >= 0], intended[intended >= 0]
    query = text.search_queries(catalog.brand[intended], catalog.adjective[intended],
                                catalog.colour[intended], catalog.noun[intended],
                                catalog.category[intended], rng)
    results = _result_lists(catalog, view, intended, behaviour, rng)
    shown = results >= 0
    position = np.cumsum(shown, axis=1)                           # empty slots close up
    row, _ = np.nonzero(shown)
    item = results[shown]
    grade = relevance_grade(catalog, intended[row], item)
    attraction = np.asarray(behaviour.search_attraction)[grade]
    p_click = attraction * position[shown].astype(float) ** -EXAMINATION_DECAY
    clicked = rng.random(len(item)) < p_click
    clicks_per_search = np.bincount(row, weights=clicked, minlength=len(searching))
    return SearchOutcome(
        session=searching, intended=intended, query=query, failed=clicks_per_search == 0,
        shown_search=row, shown_item=item, shown_position=position[shown], shown_grade=grade,
        shown_p_click=p_click, shown_clicked=clicked,
    )
