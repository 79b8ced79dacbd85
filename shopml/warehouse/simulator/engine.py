"""The day loop: advance prices, send campaigns, run sessions, apply their consequences, draw
churn, and emit every row the day produced (canonical tables and truth) as NumPy columns.

Loops run over days only; everything within a day is vectorised over users, sessions and events.
Ids are 1-based: user ``i`` of the arrays is ``user_id = i + 1`` (likewise items and ads).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import schema
from . import text
from . import vocabulary as vocab
from .campaigns import send_pushes, send_promotions
from .churn import draw_churn, hazards
from .config import MICROS_PER_SECOND, SECONDS_PER_DAY
from .intensity import DayIntensity
from .pages import PageOutcome
from .prices import DayPrices
from .sessions import AdConversions, DaySessions, ad_conversion_truth, next_action_truth, run_sessions
from .reviews import WrittenReviews, review_delays, sentiment_of, write_reviews
from .world import World, carousel_rng, day_rng, engagement_rng, exploration_rng, order_rng, page_rng, text_rng

DayLog = dict[schema.Table, dict[str, np.ndarray]]


@dataclass
class Counters:
    session: int = 0
    search: int = 0
    page: int = 0
    carousel: int = 0
    event: int = 0
    impression: int = 0
    push: int = 0
    promotion: int = 0

    def take(self, name: str, n: int) -> np.ndarray:
        first = getattr(self, name)
        setattr(self, name, first + n)
        return np.arange(first + 1, first + n + 1, dtype=np.int64)


BY_NAME = np.argsort(vocab.CATEGORIES)          # categories in alphabetical order, as per-category truth lists them
REVIEW_KEYS = ("user", "item", "purchase", "ts", "rating", "text", "sentiment", "sarcastic")
ASPECT_KEYS = ("review", "aspect", "polarity", "sentiment")
PAGE_OFFSET = 20            # seconds from a session's start to its category page (before browsing starts)
CAROUSEL_OFFSET = 10        # seconds from a session's start to its home page's carousel


@dataclass
class PendingReviews:
    """Reviews are written days after a purchase; kept until the run ends, then filtered. Each
    review's aspects (``reviews.WrittenReviews``) point at its index among all pending reviews."""

    parts: list[dict[str, np.ndarray]] = field(default_factory=list)
    aspect_parts: list[dict[str, np.ndarray]] = field(default_factory=list)
    count: int = 0

    def add(self, written: WrittenReviews, **columns: np.ndarray) -> None:
        self.parts.append({**columns, "text": written.text, "sarcastic": written.sarcastic})
        self.aspect_parts.append(dict(review=written.review + self.count, aspect=written.aspect,
                                      polarity=written.polarity, sentiment=written.sentiment))
        self.count += len(written.text)

    def collect(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(reviews, their aspects), each a dict of columns."""
        def stacked(parts, keys):
            return {key: np.concatenate([part[key] for part in parts]) if parts else np.array([]) for key in keys}
        return stacked(self.parts, REVIEW_KEYS), stacked(self.aspect_parts, ASPECT_KEYS)


class Simulation:
    def __init__(self, world: World, keeps_record: bool = True):
        """``keeps_record``: keep the reviews written (their text and truth), each session's
        step-by-step truth, each search result's logging propensity and the category pages; a
        replay or an alternative future, which only needs what people do, skips them."""
        self.world = world
        self.keeps_record = keeps_record
        self.ids = Counters()
        self.reviews = PendingReviews()
        self.coupon_cost = 0.0          # discounts granted on purchases so far

    def epoch_day(self, day: int) -> int:
        return self.world.config.start_seconds // SECONDS_PER_DAY + day

    def micros(self, day: int, seconds) -> np.ndarray:
        start = self.world.config.start_seconds + day * SECONDS_PER_DAY
        return np.round((start + np.asarray(seconds, dtype=float)) * MICROS_PER_SECOND).astype(np.int64)

    def step(self, day: int, stream: int = 0) -> DayLog:
        """Simulate ``day``; ``stream`` 0 is the recorded history, others are alternative futures."""
        world, rng = self.world, day_rng(self.world.config.seed, day, stream)
        b, state = world.behaviour, world.state
        prices = world.prices.step(day, rng)
        state.fade_memories(b)
        log: DayLog = {schema.PRICES: self._price_rows(day, prices)}
        if day % b.push_every_days == 0:
            log.update(self._push_rows(day, send_pushes(world, day, prices, rng)))
        if day % b.promotion_every_days == b.promotion_every_days // 2:
            log.update(self._promotion_rows(day, send_promotions(world, day, prices, rng)))
        live = np.flatnonzero(state.alive & (world.population.signup_day <= day))
        intensity = world.intensity(live, day, prices)
        seed = world.config.seed
        day_sessions = run_sessions(world, day, intensity, prices, rng, engagement_rng(seed, day, stream),
                                    order_rng(seed, day, stream), exploration_rng(seed, day, stream),
                                    page_rng(seed, day, stream), carousel_rng(seed, day, stream),
                                    keeps_record=self.keeps_record)
        log.update(self._session_rows(day, day_sessions, intensity, prices, rng,
                                      text_rng(world.config.seed, day, stream)))
        hazard = hazards(live, state, world.population, prices.category_rise, b)
        p_churn = draw_churn(live, hazard, day, state, rng)
        log[schema.TRUTH_USER_DAYS] = self._user_day_rows(day, intensity, hazard, p_churn)
        log[schema.TRUTH_CATEGORY_DAYS] = dict(
            category=np.array(vocab.CATEGORIES, dtype=object), day=np.full(len(vocab.CATEGORIES), self.epoch_day(day)),
            expected_units=intensity.category_purchases, price_elasticity=intensity.category_elasticity)
        return log

    # --- rows --------------------------------------------------------------------------------
    def _price_rows(self, day: int, prices: DayPrices) -> dict:
        items = np.flatnonzero(prices.on_sale)
        return dict(item_id=items + 1, day=np.full(len(items), self.epoch_day(day)), price=prices.price[items],
                    on_promo=prices.on_promo[items])

    def _push_rows(self, day: int, sent: dict) -> DayLog:
        ids = self.ids.take("push", len(sent["user"]))
        return {
            schema.PUSHES: dict(push_id=ids, user_id=sent["user"] + 1, ts=self.micros(day, np.zeros(len(ids))),
                                campaign=np.full(len(ids), sent["campaign"], dtype=object),
                                treated=sent["treated"], opened=sent["opened"]),
            schema.TRUTH_PUSHES: dict(push_id=ids, p_open=sent["p_open"], p_purchase_treated=sent["p_treated"],
                                      p_purchase_control=sent["p_control"],
                                      uplift=sent["p_treated"] - sent["p_control"], push_effect=sent["effect"]),
        }

    def _promotion_rows(self, day: int, sent: dict) -> DayLog:
        ids = self.ids.take("promotion", len(sent["user"]))
        valid = self.world.behaviour.coupon_valid_days
        return {
            schema.PROMOTIONS: dict(promotion_id=ids, user_id=sent["user"] + 1,
                                    ts=self.micros(day, np.zeros(len(ids))),
                                    campaign=np.full(len(ids), sent["campaign"], dtype=object),
                                    coupon=sent["coupon"], discount=sent["discount"],
                                    valid_days=np.full(len(ids), valid)),
            schema.TRUTH_PROMOTIONS: dict(promotion_id=ids, p_purchase_coupon=sent["p_coupon"],
                                          p_purchase_no_coupon=sent["p_without"],
                                          uplift=sent["p_coupon"] - sent["p_without"]),
        }

    def _user_day_rows(self, day: int, intensity: DayIntensity, hazard: np.ndarray, p_churn) -> dict:
        return dict(
            user_id=intensity.users + 1, day=np.full(len(intensity.users), self.epoch_day(day)),
            expected_sessions=intensity.sessions, p_cart=intensity.p_cart,
            p_purchase=intensity.p_purchase, p_like=intensity.p_engage("like"),
            p_favorite=intensity.p_engage("favorite"), p_share=intensity.p_engage("share"), p_churn=p_churn,
            hazard_natural=hazard[:, 0], hazard_bad_experience=hazard[:, 1],
            hazard_price_rise=hazard[:, 2], hazard_failed_search=hazard[:, 3],
            hazard_push_fatigue=hazard[:, 4],
        )

    def _session_rows(self, day: int, ds: DaySessions, intensity: DayIntensity, prices: DayPrices, rng,
                      writer_rng) -> DayLog:
        s, baskets = ds.sessions, ds.baskets
        session_ids = self.ids.take("session", len(s.user))
        purchase_price = self._pay(day, ds, prices)
        log, purchase_ids = self._event_rows(day, ds, session_ids, prices, purchase_price)
        log[schema.TRUTH_PURCHASES] = self._after_purchases(day, ds, purchase_ids, rng, writer_rng)
        self._after_searches(ds)
        bought = baskets.session[baskets.bought]
        bought_key = bought * self.world.catalog.n_items + baskets.item[baskets.bought]
        log[schema.TRUTH_SESSIONS] = dict(
            session_id=session_ids, category=np.array(vocab.CATEGORIES, dtype=object)[s.category],
            **{f"p_{kind}": p_engage[s.row, s.category] for kind, p_engage in intensity.engage.items()})
        if self.keeps_record:
            path = next_action_truth(self.world, ds, intensity)
            log[schema.TRUTH_SESSIONS].update(opening_categories=list(path.opening_categories[:, BY_NAME]),
                                              ad_categories=list(path.ad_categories[:, BY_NAME]))
            log[schema.TRUTH_SESSION_STEPS] = dict(session_id=session_ids[path.steps.pop("session")], **path.steps)
        log.update(self._search_rows(day, ds, session_ids, bought_key))
        log.update(self._ad_rows(day, ds, session_ids, bought_key, intensity, prices))
        if ds.pages is not None:
            log.update(self._page_rows(day, ds, session_ids))
        if ds.carousels is not None:
            log.update(self._carousel_rows(day, ds, session_ids))
        return log

    def _pay(self, day: int, ds: DaySessions, prices: DayPrices) -> np.ndarray:
        """Unit price of each purchase; a valid coupon discounts the user's first one, once."""
        state, baskets = self.world.state, ds.baskets
        session = baskets.session[baskets.bought]
        user = ds.sessions.user[session]
        price = prices.price[baskets.item[baskets.bought]]
        moment = ds.sessions.second[session] + baskets.purchase_offset[baskets.bought]
        order = np.lexsort((moment, user))
        first = np.zeros(len(user), dtype=bool)
        first[order[np.unique(user[order], return_index=True)[1]]] = True
        uses = first & (state.coupon_until[user] > day)
        paid = np.where(uses, np.round(price * (1 - state.coupon_discount[user]), 2), price)
        state.coupon_until[user[uses]] = day
        self.coupon_cost += float((price - paid).sum())
        return paid

    def _after_purchases(self, day: int, ds: DaySessions, purchase_ids: np.ndarray, rng, writer_rng) -> dict:
        """The purchases' experiences (bad ones raise the buyer's churn hazard) and the reviews that
        follow some, ``review_delays`` later; returns each purchase's truth: P(its buyer reviews it)."""
        world, baskets = self.world, ds.baskets
        b, cat, state = world.behaviour, world.catalog, world.state
        session = baskets.session[baskets.bought]
        user, item = ds.sessions.user[session], baskets.item[baskets.bought]
        satisfaction = cat.experienced_quality(item, day) + rng.normal(0.0, b.satisfaction_noise, len(item))
        bad = satisfaction < b.bad_experience_threshold
        np.add.at(state.bad_experiences, user[bad], 1.0)
        p_review = np.where(bad, b.review_rate_bad, b.review_rate)
        writes = rng.random(len(item)) < p_review
        delay = review_delays(b, rng, writes.sum()) * SECONDS_PER_DAY
        moment = ds.sessions.second[session[writes]] + baskets.purchase_offset[baskets.bought][writes] + delay
        rating = np.clip(np.round(3.2 + 1.3 * satisfaction[writes]), 1, 5).astype(np.int64)
        truth = dict(event_id=purchase_ids, p_review=p_review)
        if not self.keeps_record:
            return truth
        written = write_reviews(rating, satisfaction[writes], text.NOUNS.words[cat.noun[item[writes]]],
                                world.config.writing, writer_rng)
        self.reviews.add(written, user=user[writes], item=item[writes], purchase=purchase_ids[writes],
                         ts=self.micros(day, moment), rating=rating, sentiment=sentiment_of(satisfaction[writes]))
        return truth

    def _after_searches(self, ds: DaySessions) -> None:
        failed_users = ds.sessions.user[ds.searches.session[ds.searches.failed]]
        np.add.at(self.world.state.failed_searches, failed_users, 1.0)

    def _event_rows(self, day, ds: DaySessions, session_ids, prices: DayPrices,
                    purchase_price) -> tuple[DayLog, np.ndarray]:
        """The day's events, and the event ids of its purchases (in ``baskets.bought`` order)."""
        s, baskets = ds.sessions, ds.baskets
        parts = [("view", ds.views.session, ds.views.item, ds.views.offset, None)]
        parts += [(kind, v.session, v.item, v.offset, None) for kind, v in ds.engagement.items()]
        parts.append(("cart", baskets.session, baskets.item, baskets.cart_offset, None))
        bought = baskets.bought
        parts.append(("purchase", baskets.session[bought], baskets.item[bought],
                      baskets.purchase_offset[bought], purchase_price))
        kind = np.concatenate([np.full(len(p[1]), p[0], dtype=object) for p in parts])
        session = np.concatenate([p[1] for p in parts])
        item = np.concatenate([p[2] for p in parts])
        ts = self.micros(day, s.second[session] + np.concatenate([p[3] for p in parts]))
        price = np.concatenate([p[4] if p[4] is not None else prices.price[p[2]] for p in parts])
        order = np.lexsort((session, ts))
        event_ids = self.ids.take("event", len(order))
        placed = np.empty_like(order)
        placed[order] = np.arange(len(order))
        purchase_ids = event_ids[placed[len(kind) - bought.sum():]]        # purchases are the last part
        return {schema.EVENTS: dict(
            event_id=event_ids, user_id=s.user[session][order] + 1,
            item_id=item[order] + 1, session_id=session_ids[session][order], event_type=kind[order],
            ts=ts[order], price=price[order], quantity=np.ones(len(order), dtype=np.int64),
        )}, purchase_ids

    def _search_rows(self, day, ds: DaySessions, session_ids, bought_key) -> DayLog:
        sr, s = ds.searches, ds.sessions
        ids = self.ids.take("search", len(sr.session))
        shown_session = sr.session[sr.shown_search]
        key = shown_session * self.world.catalog.n_items + sr.shown_item
        return {
            schema.SEARCHES: dict(search_id=ids, user_id=s.user[sr.session] + 1,
                                  session_id=session_ids[sr.session], ts=self.micros(day, s.second[sr.session]),
                                  query=sr.query, explored=sr.explored),
            schema.SEARCH_IMPRESSIONS: dict(search_id=ids[sr.shown_search], item_id=sr.shown_item + 1,
                                            position=sr.shown_position, clicked=sr.shown_clicked,
                                            purchased=sr.shown_clicked & np.isin(key, bought_key),
                                            propensity=sr.shown_propensity),
            schema.TRUTH_SEARCHES: dict(search_id=ids, intended_item_id=sr.intended + 1),
            schema.TRUTH_SEARCH_IMPRESSIONS: dict(search_id=ids[sr.shown_search], item_id=sr.shown_item + 1,
                                                  grade=sr.shown_grade, p_click=sr.shown_p_click),
        }

    def _page_rows(self, day, ds: DaySessions, session_ids) -> DayLog:
        pages, s = ds.pages, ds.sessions
        ids = self.ids.take("page", len(pages.session))
        return {
            schema.PAGES: dict(page_id=ids, user_id=s.user[pages.session] + 1, session_id=session_ids[pages.session],
                               ts=self.micros(day, s.second[pages.session] + PAGE_OFFSET),
                               category=np.array(vocab.CATEGORIES, dtype=object)[s.category[pages.session]],
                               explored=pages.explored),
            **_shown_rows(pages, "page_id", ids, schema.PAGE_IMPRESSIONS, schema.TRUTH_PAGE_IMPRESSIONS),
        }

    def _carousel_rows(self, day, ds: DaySessions, session_ids) -> DayLog:
        carousels, s = ds.carousels, ds.sessions
        ids = self.ids.take("carousel", len(carousels.session))
        return {
            schema.CAROUSELS: dict(carousel_id=ids, user_id=s.user[carousels.session] + 1,
                                   session_id=session_ids[carousels.session],
                                   ts=self.micros(day, s.second[carousels.session] + CAROUSEL_OFFSET),
                                   explored=carousels.explored),
            **_shown_rows(carousels, "carousel_id", ids, schema.CAROUSEL_IMPRESSIONS,
                          schema.TRUTH_CAROUSEL_IMPRESSIONS),
        }

    def _ad_rows(self, day, ds: DaySessions, session_ids, bought_key, intensity: DayIntensity,
                 prices: DayPrices) -> DayLog:
        ads, s, baskets = ds.ads, ds.sessions, ds.baskets
        unrecorded = np.full(len(ads.ad), np.nan)
        conversions = (ad_conversion_truth(self.world, ds, intensity, prices) if self.keeps_record
                       else AdConversions(shown=unrecorded, hidden=unrecorded))
        ids = self.ids.take("impression", len(ads.ad))
        key = ads.session * self.world.catalog.n_items + ads.item
        bought = baskets.session[baskets.bought]
        purchase_at = np.full(len(s.user), np.inf)
        purchase_at[bought] = baskets.purchase_offset[baskets.bought]
        converted = np.isin(key, bought_key) & (purchase_at[ads.session] > ads.offset)
        return {
            schema.AD_IMPRESSIONS: dict(
                impression_id=ids, user_id=s.user[ads.session] + 1, ad_id=ads.ad + 1,
                session_id=session_ids[ads.session], ts=self.micros(day, s.second[ads.session] + ads.offset),
                position=ads.position, clicked=ads.clicked, converted=converted, in_holdout=ads.in_holdout,
                page_category=np.array(vocab.CATEGORIES, dtype=object)[ads.page_category], propensity=ads.propensity),
            schema.TRUTH_AD_IMPRESSIONS: dict(impression_id=ids, p_click=ads.p_click, p_convert_shown=conversions.shown,
                                              p_convert_hidden=conversions.hidden),
        }


def _shown_rows(shown: PageOutcome, key: str, ids: np.ndarray, impressions: schema.Table,
                truth: schema.Table) -> DayLog:
    """A page's or a carousel's shown items: logged (position, click, propensity) and their truth."""
    rows = {key: ids[shown.shown_page], "item_id": shown.shown_item + 1}
    return {impressions: dict(rows, position=shown.shown_position, clicked=shown.shown_clicked,
                              propensity=shown.shown_propensity),
            truth: dict(rows, attraction=shown.shown_attraction, p_click=shown.shown_p_click)}
