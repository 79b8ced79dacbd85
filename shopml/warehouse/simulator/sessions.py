"""One day of shopping sessions, vectorised over every session of every live user.

A session lands in a category drawn from the user's taste. It may start with a search, always has
some browsing (items drawn by appeal and price within the category) and may show ads. At most one
viewed item is carted, with the probability of ``intensity.cart`` for that category; the item is
chosen by utility among what was viewed (what the search was for and clicked ads weigh most).
A cart becomes a purchase with probability ``intensity.buy``. A session may also like, favourite
and share (each at most once) one of the items it viewed. Session times stay within the day (no session starts after 23:00 and none lasts an hour).

The path of a session, step by step: it opens; it searches (with ``search_rate``) and views the
results it clicks, within ``BROWSE_START`` seconds; then it views ``1 + Poisson(m)`` more items,
browsed and clicked ads in a random order, 45 to 75 s apart (m: the browsing mean plus the expected
ad clicks); then it carts (``intensity.cart``; after a pause of 10 s plus an exponential) or leaves;
a cart is bought (``intensity.buy``) or left. ``next_action_truth`` gives, at every step, the true probability of each next action under
this process and the session's hidden state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import poisson

from .ads import AdOutcome, ads_by_category, run_ads
from .intensity import DayIntensity
from .carousels import run_carousels
from .pages import PageOutcome, run_pages
from .prices import DayPrices
from .sampling import GroupedSampler, Groups, expand
from .search import SearchOutcome, run_searches, search_catalog_view
from .world import N_CATEGORIES, World

HOUR_WEIGHTS = np.array([2, 1, 1, 1, 1, 2, 4, 6, 7, 7, 7, 8, 9, 9, 8, 7, 7, 8, 10, 11, 11, 9, 6, 0], float)
HOUR_WEIGHTS /= HOUR_WEIGHTS.sum()
LAST_START_SECOND = 23 * 3600
INTENT_BONUS = 2.0          # carting utility bonus of the clicked search target
BROWSE_START = 30           # seconds: search results are viewed before, browsing and ads after
VIEW_SPACING = 45           # seconds between two browsing views (plus up to 30 s)
CART_PAUSE = (10, 40, 300)  # seconds from the last view to a cart: at least, mean of an exponential on top, at most
NEXT_ACTIONS = ("search", "view", "cart", "purchase", "leave")   # what a session does after a step


@dataclass
class Sessions:
    user: np.ndarray
    row: np.ndarray           # index into the day's intensity arrays
    second: np.ndarray        # start, seconds into the day
    category: np.ndarray
    hour: np.ndarray


SEARCHED, BROWSED, AD = 0, 1, 2      # how a view came about (``Views.source``)


@dataclass
class Views:
    session: np.ndarray
    item: np.ndarray
    offset: np.ndarray        # seconds after the session start
    bonus: np.ndarray         # carting utility bonus
    source: np.ndarray        # SEARCHED, BROWSED or AD


@dataclass
class Baskets:
    session: np.ndarray       # sessions that carted
    item: np.ndarray
    cart_offset: np.ndarray
    bought: np.ndarray        # per cart
    purchase_offset: np.ndarray


@dataclass
class DaySessions:
    sessions: Sessions
    views: Views
    engagement: dict[str, Views]   # like / favorite / share
    baskets: Baskets
    searches: SearchOutcome
    ads: AdOutcome
    pages: PageOutcome | None      # None where the record is not kept
    carousels: PageOutcome | None  # None where the record is not kept


def start_sessions(world: World, day: int, intensity: DayIntensity, rng) -> Sessions:
    row, _ = expand(rng.poisson(intensity.sessions))
    user = intensity.users[row]
    hour = rng.choice(24, size=len(row), p=HOUR_WEIGHTS)
    second = hour * 3600 + rng.integers(0, 3600, len(row))
    joined_today = world.population.signup_day[user] == day
    signup_second = world.population.signup_second[user]
    late_start = signup_second + rng.random(len(row)) * (LAST_START_SECOND - signup_second)
    second = np.where(joined_today, late_start.astype(np.int64), second)
    hour = second // 3600
    taste_cdf = np.cumsum(intensity.taste[row], axis=1)
    category = (taste_cdf < rng.random((len(row), 1)) * taste_cdf[:, -1:]).sum(axis=1)
    return Sessions(user=user, row=row, second=second, category=np.minimum(category, N_CATEGORIES - 1), hour=hour)


def _browse(world: World, sessions: Sessions, prices: DayPrices, rng) -> Views:
    cat = world.catalog
    ratio = prices.price / cat.base_price
    weights = cat.appeal * prices.on_sale * ratio ** -cat.elasticity[cat.category]
    sampler = GroupedSampler(cat.category, weights, N_CATEGORIES)
    session, _ = expand(1 + rng.poisson(world.behaviour.browse_views_mean, len(sessions.user)))
    jitter = rng.integers(0, 30, len(session))      # the offset is set once ads are mixed in (``_all_views``)
    return Views(session=session, item=sampler.draw(sessions.category[session], rng), offset=jitter,
                 bonus=np.zeros(len(session)), source=np.full(len(session), BROWSED))


def _all_views(browse: Views, searches: SearchOutcome, ads: AdOutcome, ad_bonus: float, order_rng) -> Views:
    """Every item the session looked at: clicked search results first, by position, then browsing
    and clicked ads in a random order (``order_rng``), ``VIEW_SPACING`` apart. A clicked ad's
    impression moves to 3 s before its view."""
    clicked = searches.shown_clicked
    ad_clicked = np.flatnonzero(ads.clicked)
    later = Views(session=np.concatenate([browse.session, ads.session[ad_clicked]]),
                  item=np.concatenate([browse.item, ads.item[ad_clicked]]),
                  offset=np.concatenate([browse.offset, order_rng.integers(0, 30, len(ad_clicked))]),
                  bonus=np.concatenate([browse.bonus, np.full(len(ad_clicked), ad_bonus)]),
                  source=np.concatenate([browse.source, np.full(len(ad_clicked), AD)]))
    order = np.lexsort((order_rng.random(len(later.session)), later.session))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - np.searchsorted(later.session[order], later.session[order])
    later.offset = BROWSE_START + VIEW_SPACING * rank + later.offset
    ads.offset[ad_clicked] = later.offset[len(browse.session):] - 3
    views = Views(
        session=np.concatenate([searches.session[searches.shown_search[clicked]], later.session]),
        item=np.concatenate([searches.shown_item[clicked], later.item]),
        offset=np.concatenate([2 + 2 * searches.shown_position[clicked], later.offset]),
        bonus=np.concatenate([INTENT_BONUS * (searches.shown_grade[clicked] == 3), later.bonus]),
        source=np.concatenate([np.full(clicked.sum(), SEARCHED), later.source]),
    )
    keep = views.item >= 0
    return Views(*(getattr(views, f)[keep] for f in ("session", "item", "offset", "bonus", "source")))


def item_utility(world: World, prices: DayPrices) -> np.ndarray:
    """Per item, its carting utility today before a view's bonus and the Gumbel noise: of the
    viewed items, a carting session takes the one with the most utility plus noise."""
    cat = world.catalog
    return (np.log(cat.appeal) + 0.5 * cat.quality
            - cat.elasticity[cat.category] * np.log(prices.price / cat.base_price))


def _fill_baskets(world: World, sessions: Sessions, views: Views, intensity: DayIntensity,
                  prices: DayPrices, rng, order_rng) -> Baskets:
    """``order_rng`` draws the pause before a cart, so that how long a shopper dwells never moves
    what they buy."""
    n = len(sessions.user)
    carts = rng.random(n) < intensity.cart[sessions.row, sessions.category]
    utility = item_utility(world, prices)[views.item] + views.bonus + rng.gumbel(size=len(views.item))
    by_session = Groups(views.session)
    best_item = np.full(n, -1)
    best_item[by_session.keys] = views.item[by_session.best(utility)]
    last_view = np.zeros(n)
    np.maximum.at(last_view, views.session, views.offset)
    carting = np.flatnonzero(carts & (best_item >= 0))
    bought = rng.random(len(carting)) < intensity.buy[sessions.row[carting]]
    cart_offset = last_view[carting] + CART_PAUSE[0] + np.minimum(order_rng.exponential(CART_PAUSE[1], len(carting)),
                                                                   CART_PAUSE[2])
    return Baskets(session=carting, item=best_item[carting], cart_offset=cart_offset, bought=bought,
                   purchase_offset=cart_offset + 60 + np.minimum(rng.exponential(120, len(carting)), 600))


def _engagement(world: World, sessions: Sessions, views: Views, intensity: DayIntensity, rng) -> dict[str, Views]:
    """Per kind, a session does it at most once: with ``intensity.engage`` for its category, to the
    viewed item with the best ``engagement_quality * quality`` plus Gumbel noise."""
    quality = world.behaviour.engagement_quality * world.catalog.quality[views.item]
    by_session = Groups(views.session)
    out = {}
    for kind, p_engage in intensity.engage.items():
        engages = rng.random(len(sessions.user)) < p_engage[sessions.row, sessions.category]
        utility = quality + rng.gumbel(size=len(views.item))
        pick = by_session.best(utility)[engages[by_session.keys]]
        out[kind] = Views(session=views.session[pick], item=views.item[pick],
                          offset=views.offset[pick] + 5, bonus=views.bonus[pick], source=views.source[pick])
    return out


def run_sessions(world: World, day: int, intensity: DayIntensity, prices: DayPrices, rng,
                 engagement_rng, order_rng, exploration_rng, page_rng, carousel_rng,
                 keeps_record: bool = True) -> DaySessions:
    """``engagement_rng`` draws likes, favourites and shares, ``order_rng`` the order of browsing
    and ad views, apart from ``rng`` so that they never move a purchase, ``exploration_rng``
    which searches the engine explores and what it shows them, ``page_rng`` the category pages
    and ``carousel_rng`` the recommendation carousels; ``keeps_record``: work out what only the
    record needs (each shown search result's logging propensity, the pages and carousels, which
    move nothing else)."""
    cat, b = world.catalog, world.behaviour
    sessions = start_sessions(world, day, intensity, rng)
    search_view = search_catalog_view(cat, prices.on_sale, world.search_rank)
    searches = run_searches(sessions.category, cat, search_view, b, rng, exploration_rng, keeps_record)
    ads = run_ads(sessions.user, sessions.category, sessions.hour, world.population, cat,
                  ads_by_category(cat, N_CATEGORIES), b, rng)
    views = _all_views(_browse(world, sessions, prices, rng), searches, ads, b.ad_conversion_boost, order_rng)
    return DaySessions(
        sessions=sessions, views=views, engagement=_engagement(world, sessions, views, intensity, engagement_rng),
        baskets=_fill_baskets(world, sessions, views, intensity, prices, rng, order_rng),
        searches=searches, ads=ads,
        pages=run_pages(sessions.user, sessions.category, cat, world.population, search_view.by_category,
                        prices.price, b, page_rng) if keeps_record else None,
        carousels=run_carousels(sessions.user, cat, world.population, prices.on_sale, prices.price, b,
                                carousel_rng) if keeps_record else None,
    )


@dataclass
class AdConversions:
    """Per ad slot, the chance that its session buys the ad's item had the slot been shown, and
    had it not (the holdout's counterfactual, and a ghost's own); their difference is what showing
    the ad adds."""
    shown: np.ndarray
    hidden: np.ndarray


def ad_conversion_truth(world: World, ds: DaySessions, intensity: DayIntensity, prices: DayPrices) -> AdConversions:
    """Given the rest of its session (every other view, clicked ads' included), a slot's session
    carts with ``intensity.cart``, takes among the viewed items the one with the most utility plus
    Gumbel noise, so each with its softmax share, and buys with ``intensity.buy``. Shown, the
    slot is clicked with its ``p_click`` and adds a view of the ad's item with the ad's bonus; not
    clicked or not shown, the item is bought only if the session viewed it otherwise. Whether
    the purchase comes after the slot is not asked: a clicked slot's always does."""
    ads, s, views = ds.ads, ds.sessions, ds.views
    n_items = world.catalog.n_items
    utility = item_utility(world, prices)
    weight = np.exp(utility[views.item] + views.bonus)
    all_views = np.bincount(views.session, weight, minlength=len(s.user))[ads.session]
    view_key, slot_key = views.session * n_items + views.item, ads.session * n_items + ads.item
    keys, by_key = np.unique(view_key, return_inverse=True)
    at = np.searchsorted(keys, slot_key)
    viewed = at < len(keys)
    viewed[viewed] = keys[at[viewed]] == slot_key[viewed]
    item_views = np.zeros(len(slot_key))                           # the session's views of the ad's item
    item_views[viewed] = np.bincount(by_key, weight)[at[viewed]]
    ad_view = np.exp(utility[ads.item] + world.behaviour.ad_conversion_boost)
    own = np.where(ads.clicked, ad_view, 0.0)                      # a clicked slot's own view is not the rest
    others, item_others = np.maximum(all_views - own, 0.0), np.maximum(item_views - own, 0.0)
    buys = (intensity.cart[s.row, s.category] * intensity.buy[s.row])[ads.session]
    hidden = buys * np.divide(item_others, others, out=np.zeros(len(others)), where=others > 0)
    clicked = buys * (item_others + ad_view) / (others + ad_view)
    return AdConversions(shown=ads.p_click * clicked + (1 - ads.p_click) * hidden, hidden=hidden)


@dataclass
class PathTruth:
    steps: dict[str, np.ndarray]        # per step of every session: its probabilities
    opening_categories: np.ndarray      # (sessions, categories): P(the first view's category) as a session opens
    ad_categories: np.ndarray           # (sessions, categories): P(a clicked ad's category)


def next_action_truth(world: World, ds: DaySessions, intensity: DayIntensity) -> PathTruth:
    """Every step of every session (``step`` k: after its k-th search, view, cart or purchase; 0:
    it has just opened) with the true probability of each of ``NEXT_ACTIONS`` next. After the
    j-th view past the search, another follows with P(Poisson(m) >= j | Poisson(m) >= j - 1).

    And where the next view leads: a searched or browsed item is in the session's category, a
    clicked ad's item in the ad's (``ad_categories``). ``p_next_ad`` is the chance that the next
    view is an ad's, given the session's mix of browsing and ad views (not their random order):
    (ads left) / (views left). As a session opens, its category is still to be drawn from the
    user's taste (``opening_categories``)."""
    s, views, baskets, b = ds.sessions, ds.views, ds.baskets, world.behaviour
    n = len(s.user)
    searched = np.zeros(n, dtype=np.int64)
    searched[ds.searches.session] = 1
    early = np.bincount(views.session, weights=views.source == SEARCHED, minlength=n).astype(np.int64)
    ads = np.bincount(views.session, weights=views.source == AD, minlength=n).astype(np.int64)
    later = np.bincount(views.session, minlength=n) - early
    carted = np.zeros(n, dtype=np.int64)
    carted[baskets.session] = 1
    bought = np.zeros(n, dtype=np.int64)
    bought[baskets.session[baskets.bought]] = 1
    session, step = expand(1 + searched + early + later + carted + bought)
    click_chances = world.expected_ad_clicks.category_clicks(s.user, s.hour)
    ad_clicks = world.expected_ad_clicks.by_category(s.user, s.category, s.hour, click_chances)
    m = b.browse_views_mean + ad_clicks.sum(axis=1)
    j = step - searched[session] - early[session]               # views past the search so far
    more = poisson.sf(j - 1, m[session]) / np.maximum(poisson.sf(j - 2, m[session]), 1e-300)
    cart = intensity.cart[s.row, s.category][session]
    buy = intensity.buy[s.row][session]
    opening, searching, browsing = step == 0, (step > 0) & (j <= 0), (j >= 1) & (j <= later[session])
    after_cart = (j == later[session] + 1) & (carted[session] == 1)
    p = np.zeros((len(step), len(NEXT_ACTIONS)))
    p[:, 0] = np.where(opening, b.search_rate, 0.0)
    p[:, 1] = np.select([opening, searching, browsing], [1 - b.search_rate, 1.0, more], 0.0)
    p[:, 2] = np.where(browsing, (1 - more) * cart, 0.0)
    p[:, 3] = np.where(after_cart, buy, 0.0)
    p[:, 4] = 1 - p[:, :4].sum(axis=1)
    steps = dict(session=session, step=step, **{f"p_{action}": p[:, a] for a, action in enumerate(NEXT_ACTIONS)},
                 p_next_ad=_next_ad(views, session, step, searched, early, later, ads))
    return PathTruth(steps=steps, ad_categories=ad_clicks / ad_clicks.sum(axis=1, keepdims=True),
                     opening_categories=_opening_categories(world, s, intensity, early, later, ads, click_chances))


def _next_ad(views: Views, session, step, searched, early, later, ads) -> np.ndarray:
    """Per step, P(the next view is an ad's | the session's mix of views): none while search
    results are left, then the ads left over the views left."""
    seen = np.clip(step - searched[session], 0, (early + later)[session])      # views so far
    past_search = seen - early[session]
    post = np.flatnonzero(views.source != SEARCHED)
    order = post[np.lexsort((views.offset[post], views.session[post]))]
    ads_before = np.concatenate([[0], np.cumsum(views.source[order] == AD)])   # ads among the first i post-search views
    first = np.searchsorted(views.session[order], np.arange(len(early)))
    index = first[session] + np.clip(past_search, 0, None)
    ads_seen = ads_before[np.minimum(index, len(order))] - ads_before[first[session]]
    left = later[session] - past_search
    return np.where((past_search >= 0) & (left > 0), (ads[session] - ads_seen) / np.maximum(left, 1), 0.0)


def _opening_categories(world: World, s: Sessions, intensity: DayIntensity, early, later, ads,
                        click_chances: np.ndarray) -> np.ndarray:
    """(sessions, categories): the first view's category as the session opens: its category
    drawn from the taste, the first view an ad's with the session's mix (none after a search click)."""
    taste = intensity.taste[s.row] / intensity.taste[s.row].sum(axis=1, keepdims=True)
    p_ad = np.where(early > 0, 0.0, ads / np.maximum(later, 1))[:, None]
    led_by_ads = np.zeros_like(taste)
    for landed in range(N_CATEGORIES):
        clicks = world.expected_ad_clicks.by_category(s.user, np.full(len(s.user), landed), s.hour, click_chances)
        led_by_ads += taste[:, [landed]] * clicks / clicks.sum(axis=1, keepdims=True)
    return (1 - p_ad) * taste + p_ad * led_by_ads
