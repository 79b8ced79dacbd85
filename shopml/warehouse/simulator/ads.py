"""Ad slots inside sessions: which ad is shown where, and whether it is clicked.

A share of the slots (``ad_targeted_share``, half) is filled from the ads of the session's
category (the page's), uniformly, the rest from every ad, uniformly: each slot logs the page's
category and the probability that this policy chose its ad there (its propensity), which
off-policy evaluation of another policy needs. The click
probability rises with the user's affinity for the ad's category and the ad's hidden quality,
falls with position, and is higher in the evening. A randomised holdout of slots is chosen but
never shown (ghost ads), so the effect of showing an ad can be measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .catalog import Catalog
from .config import Behaviour
from .intensity import sigmoid
from .population import Population
from .sampling import GroupedSampler, expand

EVENING_HOURS = (18, 23)


@dataclass
class AdOutcome:
    session: np.ndarray      # per impression: index of its session
    ad: np.ndarray
    item: np.ndarray         # the advertised item
    offset: np.ndarray       # seconds after the session start
    position: np.ndarray     # 1-based
    p_click: np.ndarray      # the click probability had it been shown
    clicked: np.ndarray
    in_holdout: np.ndarray
    page_category: np.ndarray    # the session's category, where the slot is
    propensity: np.ndarray       # P(this ad in this slot | the page's category) under the policy


def ads_by_category(catalog: Catalog, n_categories: int) -> GroupedSampler:
    return GroupedSampler(catalog.ad_category, np.ones(len(catalog.ad_item)), n_categories)


def run_ads(session_user, session_category, session_hour, population: Population, catalog: Catalog,
            by_category: GroupedSampler, behaviour: Behaviour, rng) -> AdOutcome:
    b = behaviour
    session, _ = expand(rng.poisson(b.ads_per_session, len(session_user)))
    n = len(session)
    targeted = rng.random(n) < b.ad_targeted_share
    ad = np.where(targeted, by_category.draw(session_category[session], rng),
                  rng.integers(0, len(catalog.ad_item), n))
    position = rng.integers(1, b.ad_positions + 1, n)
    p_click = click_probability(session_user[session], session_hour[session], ad, position, population, catalog, b)
    in_holdout = rng.random(n) < b.ad_holdout_rate
    clicked = ~in_holdout & (rng.random(n) < p_click)
    page = session_category[session]
    return AdOutcome(session=session, ad=ad, item=catalog.ad_item[ad],
                     offset=rng.integers(0, 400, n), position=position, p_click=p_click, clicked=clicked,
                     in_holdout=in_holdout, page_category=page,
                     propensity=ad_propensity(ad, page, catalog.ad_category, b.ad_targeted_share))


def click_probability(user, hour, ad, position, population: Population, catalog: Catalog,
                      behaviour: Behaviour) -> np.ndarray:
    """P(click) of ``ad`` shown at ``position`` to ``user`` in ``hour`` (arrays of one shape)."""
    b = behaviour
    affinity = np.log(np.maximum(population.relative_taste[user, catalog.ad_category[ad]], 1e-6))
    evening = (hour >= EVENING_HOURS[0]) & (hour <= EVENING_HOURS[1])
    return sigmoid(b.ad_intercept + b.ad_affinity * affinity + catalog.ad_quality[ad]
                   - b.ad_position_decay * (position - 1) + b.ad_evening_boost * evening)


class ExpectedClicks:
    """Per session, the expected number of ads clicked: slots are Poisson, each filled and clicked
    independently, so the clicks are Poisson with this mean (the slots' mean times the chance that a
    slot is shown and clicked, averaged over the ads the policy picks and the positions).

    ``click_probability``'s logit is a session part (intercept, evening, affinity for the ad's
    category) plus an ad part (quality, position), so per ad category the summed click chance is a
    function of the session part alone: tabulated once on a fine grid (``GRID_STEP``; the error is
    below 1e-5 of a click) and interpolated, instead of every session times every ad."""

    GRID = (-40.0, 15.0)
    GRID_STEP = 0.01

    def __init__(self, population: Population, catalog: Catalog, behaviour: Behaviour):
        b = behaviour
        self.population, self.catalog, self.behaviour = population, catalog, b
        self.n_categories = population.relative_taste.shape[1]
        self.grid = np.arange(*self.GRID, self.GRID_STEP)
        ad_part = catalog.ad_quality[:, None] - b.ad_position_decay * np.arange(b.ad_positions)[None, :]
        self.table = np.zeros((self.n_categories, len(self.grid)))
        for category in range(self.n_categories):
            part = ad_part[catalog.ad_category == category].ravel()
            self.table[category] = sigmoid(self.grid[:, None] + part[None, :]).sum(axis=1) / b.ad_positions
        self.per_category = np.bincount(catalog.ad_category, minlength=self.n_categories)

    def __call__(self, session_user, session_category, session_hour) -> np.ndarray:
        return self.by_category(session_user, session_category, session_hour).sum(axis=1)

    def by_category(self, session_user, session_category, session_hour, clicks: np.ndarray | None = None) -> np.ndarray:
        """(sessions, categories): the expected clicks on ads of each category (``clicks``: the
        sessions' ``category_clicks``, when known)."""
        b = self.behaviour
        clicks = self.category_clicks(session_user, session_hour) if clicks is None else clicks
        same = np.arange(self.n_categories)[None, :] == session_category[:, None]
        pick = (b.ad_targeted_share * same / np.maximum(self.per_category, 1)[None, :]
                + (1 - b.ad_targeted_share) / len(self.catalog.ad_item))      # per ad of the category
        return b.ads_per_session * (1 - b.ad_holdout_rate) * pick * clicks

    def category_clicks(self, session_user, session_hour) -> np.ndarray:
        """(sessions, categories): a slot's click chance summed over each category's ads, whatever
        the page (the policy's pick weighs them in ``by_category``)."""
        b = self.behaviour
        evening = (session_hour >= EVENING_HOURS[0]) & (session_hour <= EVENING_HOURS[1])
        session_part = (b.ad_intercept + b.ad_evening_boost * evening[:, None]
                        + b.ad_affinity * np.log(np.maximum(self.population.relative_taste[session_user], 1e-6)))
        return np.column_stack([np.interp(session_part[:, c], self.grid, self.table[c]) for c in range(self.n_categories)])


def ad_propensity(ad: np.ndarray, page_category: np.ndarray, ad_category: np.ndarray,
                  targeted_share: float) -> np.ndarray:
    """P(``ad`` fills a slot on a page of ``page_category``) when ``targeted_share`` of the slots
    are filled uniformly from the page category's ads and the rest uniformly from every ad."""
    per_category = np.bincount(ad_category, minlength=int(page_category.max(initial=0)) + 1)
    same = ad_category[ad] == page_category
    return targeted_share * same / np.maximum(per_category[page_category], 1) + (1 - targeted_share) / len(ad_category)
