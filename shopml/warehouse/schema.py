"""The warehouse's canonical tables: every table and column name, defined once.

Simulator, importers, feature SQL and tests all name tables through this module. Timestamps are
``TIMESTAMPTZ`` in UTC; ids are ``BIGINT``. The ``truth`` schema holds what only a simulator knows:
the hidden probabilities, causes and grades behind every random outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

TRUTH_SCHEMA = "truth"

EVENT_TYPES = ("view", "cart", "purchase", "favorite", "like", "share")


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]
    schema: str = "main"
    doc: str = ""

    @property
    def qualified(self) -> str:
        return self.name if self.schema == "main" else f"{self.schema}.{self.name}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def ddl(self) -> str:
        body = ", ".join(f"{name} {sql_type}" for name, sql_type in self.columns)
        return f"CREATE TABLE {self.qualified} ({body})"


def _table(name: str, doc: str, *columns: tuple[str, str], schema: str = "main") -> Table:
    return Table(name=name, columns=tuple(columns), schema=schema, doc=doc)


TS = "TIMESTAMPTZ"

USERS = _table(
    "users", "one row per customer",
    ("user_id", "BIGINT"), ("signup_ts", TS), ("country", "VARCHAR"), ("device", "VARCHAR"),
    ("age_band", "VARCHAR"),
)
ITEMS = _table(
    "items", "the catalogue; sku is the source system's code where it is not an integer",
    ("item_id", "BIGINT"), ("sku", "VARCHAR"), ("title", "VARCHAR"), ("description", "VARCHAR"),
    ("category", "VARCHAR"), ("subcategory", "VARCHAR"), ("brand", "VARCHAR"),
    ("base_price", "DOUBLE"), ("launch_ts", TS),
)
ADS = _table(
    "ads", "one creative promoting one item",
    ("ad_id", "BIGINT"), ("item_id", "BIGINT"), ("creative_text", "VARCHAR"), ("start_ts", TS),
)
EVENTS = _table(
    "events", "user actions on items; price is the unit price paid (purchase) or shown",
    ("event_id", "BIGINT"), ("user_id", "BIGINT"), ("item_id", "BIGINT"), ("session_id", "BIGINT"),
    ("event_type", "VARCHAR"), ("ts", TS), ("price", "DOUBLE"), ("quantity", "INTEGER"),
)
SEARCHES = _table(
    "searches", "one query typed by a user; explored: the engine showed a random sample of the query's subcategory "
    "(its exploration traffic) instead of its ranking",
    ("search_id", "BIGINT"), ("user_id", "BIGINT"), ("session_id", "BIGINT"), ("ts", TS),
    ("query", "VARCHAR"), ("explored", "BOOLEAN"),
)
SEARCH_IMPRESSIONS = _table(
    "search_impressions", "the results shown for a search, position 1 = top; propensity: P(this item at this "
    "position) under the logging policy (ranking and exploration mixed)",
    ("search_id", "BIGINT"), ("item_id", "BIGINT"), ("position", "INTEGER"),
    ("clicked", "BOOLEAN"), ("purchased", "BOOLEAN"), ("propensity", "DOUBLE"),
)
PAGES = _table(
    "pages", "a category page a user opened; explored: the engine showed a random sample of the category "
    "(its exploration traffic) instead of its ranking",
    ("page_id", "BIGINT"), ("user_id", "BIGINT"), ("session_id", "BIGINT"), ("ts", TS),
    ("category", "VARCHAR"), ("explored", "BOOLEAN"),
)
PAGE_IMPRESSIONS = _table(
    "page_impressions", "the items shown on a category page, position 1 = first; propensity: P(this item at this "
    "position) under the logging policy (ranking and exploration mixed)",
    ("page_id", "BIGINT"), ("item_id", "BIGINT"), ("position", "INTEGER"), ("clicked", "BOOLEAN"),
    ("propensity", "DOUBLE"),
)
CAROUSELS = _table(
    "carousels", "a recommendation carousel shown as a session opened; explored: the engine showed a random sample "
    "of the catalogue (its exploration traffic) instead of its ranking",
    ("carousel_id", "BIGINT"), ("user_id", "BIGINT"), ("session_id", "BIGINT"), ("ts", TS), ("explored", "BOOLEAN"),
)
CAROUSEL_IMPRESSIONS = _table(
    "carousel_impressions", "the items shown in a carousel, position 1 = first; propensity: P(this item at this "
    "position) under the logging policy (ranking and exploration mixed)",
    ("carousel_id", "BIGINT"), ("item_id", "BIGINT"), ("position", "INTEGER"), ("clicked", "BOOLEAN"),
    ("propensity", "DOUBLE"),
)
AD_IMPRESSIONS = _table(
    "ad_impressions", "ad slots; in_holdout rows were chosen but not shown (randomised ghost ads); propensity: P(this ad | the page's category) under the logging policy",
    ("impression_id", "BIGINT"), ("user_id", "BIGINT"), ("ad_id", "BIGINT"),
    ("session_id", "BIGINT"), ("ts", TS), ("position", "INTEGER"), ("clicked", "BOOLEAN"),
    ("converted", "BOOLEAN"), ("in_holdout", "BOOLEAN"), ("page_category", "VARCHAR"), ("propensity", "DOUBLE"),
)
PUSHES = _table(
    "pushes", "push notifications; treated is randomised, converted = purchase within 48 h",
    ("push_id", "BIGINT"), ("user_id", "BIGINT"), ("ts", TS), ("campaign", "VARCHAR"),
    ("treated", "BOOLEAN"), ("opened", "BOOLEAN"), ("converted", "BOOLEAN"),
)
PROMOTIONS = _table(
    "promotions", "coupon campaigns; coupon is randomised, purchased = purchase while valid",
    ("promotion_id", "BIGINT"), ("user_id", "BIGINT"), ("ts", TS), ("campaign", "VARCHAR"),
    ("coupon", "BOOLEAN"), ("discount", "DOUBLE"), ("valid_days", "INTEGER"),
    ("redeemed", "BOOLEAN"), ("purchased", "BOOLEAN"),
)
REVIEWS = _table(
    "reviews", "product reviews, rating 1-5",
    ("review_id", "BIGINT"), ("user_id", "BIGINT"), ("item_id", "BIGINT"), ("ts", TS),
    ("rating", "INTEGER"), ("text", "VARCHAR"),
)
PRICES = _table(
    "prices", "the list price of each item on each day",
    ("item_id", "BIGINT"), ("day", "DATE"), ("price", "DOUBLE"), ("on_promo", "BOOLEAN"),
)
REJECTED_ROWS = _table(
    "rejected_rows", "source rows an importer could not use, with the reason",
    ("source", "VARCHAR"), ("row_number", "BIGINT"), ("reason", "VARCHAR"), ("raw", "VARCHAR"),
)
WAREHOUSE_INFO = _table(
    "warehouse_info", "one row: where this warehouse's data came from",
    ("source", "VARCHAR"), ("created_at", TS), ("parameters", "VARCHAR"),
    ("start_ts", TS), ("end_ts", TS),
)

CANONICAL_TABLES = (
    USERS, ITEMS, ADS, EVENTS, SEARCHES, SEARCH_IMPRESSIONS, PAGES, PAGE_IMPRESSIONS, CAROUSELS, CAROUSEL_IMPRESSIONS,
    AD_IMPRESSIONS, PUSHES, PROMOTIONS, REVIEWS, PRICES,
)

# --- truth: the simulator's hidden state -------------------------------------------------------
TRUTH_USERS = _table(
    "users", "latent traits and the churn that happened, with its cause",
    ("user_id", "BIGINT"), ("activity", "DOUBLE"), ("fade", "DOUBLE"),
    ("price_sensitivity", "DOUBLE"), ("buy_affinity", "DOUBLE"), ("coupon_response", "DOUBLE"),
    ("push_effect", "DOUBLE"), ("open_rate", "DOUBLE"), ("natural_hazard", "DOUBLE"),
    ("favourite_category", "VARCHAR"), ("taste", "DOUBLE[]"), ("churn_ts", TS),
    ("churn_cause", "VARCHAR"),
    schema=TRUTH_SCHEMA,
)
TRUTH_USER_DAYS = _table(
    "user_days",
    "per live user and day: expected sessions, P(cart), P(purchase), P(like), P(favourite), P(share) "
    "(each at least once that day), P(churn at day end), hazards",
    ("user_id", "BIGINT"), ("day", "DATE"), ("expected_sessions", "FLOAT"), ("p_cart", "FLOAT"),
    ("p_purchase", "FLOAT"), ("p_like", "FLOAT"), ("p_favorite", "FLOAT"), ("p_share", "FLOAT"),
    ("p_churn", "FLOAT"), ("hazard_natural", "FLOAT"),
    ("hazard_bad_experience", "FLOAT"), ("hazard_price_rise", "FLOAT"),
    ("hazard_failed_search", "FLOAT"), ("hazard_push_fatigue", "FLOAT"),
    schema=TRUTH_SCHEMA,
)
TRUTH_ITEMS = _table(
    "items", "hidden item quality (drives satisfaction and ratings) and appeal (drives views); the true "
    "category, subcategory and product noun (a listing may not use them); from defect_ts a bad batch lowers quality by quality_drop",
    ("item_id", "BIGINT"), ("quality", "DOUBLE"), ("appeal", "DOUBLE"), ("category", "VARCHAR"),
    ("subcategory", "VARCHAR"), ("noun", "VARCHAR"), ("defect_ts", TS), ("quality_drop", "DOUBLE"), schema=TRUTH_SCHEMA,
)
TRUTH_ADS = _table("ads", "hidden ad quality", ("ad_id", "BIGINT"), ("quality", "DOUBLE"),
                   schema=TRUTH_SCHEMA)
TRUTH_CATEGORIES = _table(
    "categories", "price elasticity of demand per category",
    ("category", "VARCHAR"), ("elasticity", "DOUBLE"), schema=TRUTH_SCHEMA,
)
TRUTH_CATEGORY_DAYS = _table(
    "category_days",
    "per category and day: the expected units sold (the forecasts' oracle) and their short-run elasticity "
    "to the category's price index",
    ("category", "VARCHAR"), ("day", "DATE"), ("expected_units", "DOUBLE"), ("price_elasticity", "DOUBLE"),
    schema=TRUTH_SCHEMA,
)
TRUTH_AD_IMPRESSIONS = _table(
    "ad_impressions", "the click probability of each impression (counterfactual for holdout rows), and the chance "
    "that its session buys the ad's item had it been shown and had it not, given the rest of the session",
    ("impression_id", "BIGINT"), ("p_click", "DOUBLE"), ("p_convert_shown", "DOUBLE"), ("p_convert_hidden", "DOUBLE"),
    schema=TRUTH_SCHEMA,
)
TRUTH_PUSHES = _table(
    "pushes", "P(open if treated), the true uplift on P(purchase within 48 h) and the campaign's effect on the "
    "user's session rate (push_effect: a log multiplier; below 0 the push puts the user off)",
    ("push_id", "BIGINT"), ("p_open", "DOUBLE"), ("p_purchase_treated", "DOUBLE"),
    ("p_purchase_control", "DOUBLE"), ("uplift", "DOUBLE"), ("push_effect", "DOUBLE"), schema=TRUTH_SCHEMA,
)
TRUTH_PROMOTIONS = _table(
    "promotions", "the true uplift of a coupon on P(purchase while it is valid)",
    ("promotion_id", "BIGINT"), ("p_purchase_coupon", "DOUBLE"),
    ("p_purchase_no_coupon", "DOUBLE"), ("uplift", "DOUBLE"), schema=TRUTH_SCHEMA,
)
TRUTH_SESSIONS = _table(
    "sessions", "the category each session landed in and its P(like), P(favourite), P(share) there (each "
    "at most once a session, to one viewed item chosen by quality); per category, in alphabetical "
    "order: P(the first view's category) as the session opens, and P(a clicked ad's category)",
    ("session_id", "BIGINT"), ("category", "VARCHAR"), ("p_like", "DOUBLE"), ("p_favorite", "DOUBLE"),
    ("p_share", "DOUBLE"), ("opening_categories", "DOUBLE[]"), ("ad_categories", "DOUBLE[]"), schema=TRUTH_SCHEMA,
)
TRUTH_SESSION_STEPS = _table(
    "session_steps", "every step of every session (step k: after its k-th search, view, cart or purchase in "
    "time order; 0: just opened) with the true probability of each next action (leave: the session ends), and "
    "P(the next view is a clicked ad's | the session's mix of browsing and ad views); else it is in the session's category",
    ("session_id", "BIGINT"), ("step", "INTEGER"), ("p_search", "FLOAT"), ("p_view", "FLOAT"), ("p_cart", "FLOAT"),
    ("p_purchase", "FLOAT"), ("p_leave", "FLOAT"), ("p_next_ad", "FLOAT"), schema=TRUTH_SCHEMA,
)
TRUTH_SEARCHES = _table(
    "searches", "the item each searcher intended",
    ("search_id", "BIGINT"), ("intended_item_id", "BIGINT"), schema=TRUTH_SCHEMA,
)
TRUTH_SEARCH_IMPRESSIONS = _table(
    "search_impressions", "relevance grade and click probability of each shown result",
    ("search_id", "BIGINT"), ("item_id", "BIGINT"), ("grade", "INTEGER"), ("p_click", "DOUBLE"),
    schema=TRUTH_SCHEMA,
)
TRUTH_PAGE_IMPRESSIONS = _table(
    "page_impressions", "attraction (P(click | examined)) and click probability of each item shown on a page",
    ("page_id", "BIGINT"), ("item_id", "BIGINT"), ("attraction", "DOUBLE"), ("p_click", "DOUBLE"),
    schema=TRUTH_SCHEMA,
)
TRUTH_CAROUSEL_IMPRESSIONS = _table(
    "carousel_impressions", "attraction (P(click | examined)) and click probability of each item shown in a carousel",
    ("carousel_id", "BIGINT"), ("item_id", "BIGINT"), ("attraction", "DOUBLE"), ("p_click", "DOUBLE"),
    schema=TRUTH_SCHEMA,
)
TRUTH_REVIEWS = _table(
    "reviews", "true sentiment in [-1, 1] behind each review; sarcastic: it opens with praise it does not mean; "
    "purchase_id: the purchase event it reviews",
    ("review_id", "BIGINT"), ("sentiment", "DOUBLE"), ("sarcastic", "BOOLEAN"), ("purchase_id", "BIGINT"),
    schema=TRUTH_SCHEMA,
)
TRUTH_PURCHASES = _table(
    "purchases", "per purchase event: p_review, the probability that its buyer reviews it (higher after a bad "
    "experience); the review, if drawn, comes review_delay_min_days plus an exponential delay later",
    ("event_id", "BIGINT"), ("p_review", "FLOAT"), schema=TRUTH_SCHEMA,
)
TRUTH_REVIEW_ASPECTS = _table(
    "review_aspects", "each aspect a review mentions (quality, size, delivery, price, service); position: its "
    "sentence's place among the review's aspect sentences (1 = first, after any opening), with its sentiment in [-1, 1] and the polarity of its sentence",
    ("review_id", "BIGINT"), ("position", "INTEGER"), ("aspect", "VARCHAR"), ("polarity", "VARCHAR"),
    ("sentiment", "DOUBLE"), schema=TRUTH_SCHEMA,
)

TRUTH_TABLES = (
    TRUTH_USERS, TRUTH_USER_DAYS, TRUTH_ITEMS, TRUTH_ADS, TRUTH_CATEGORIES, TRUTH_CATEGORY_DAYS,
    TRUTH_AD_IMPRESSIONS, TRUTH_SESSIONS, TRUTH_SESSION_STEPS,
    TRUTH_PUSHES, TRUTH_PROMOTIONS, TRUTH_SEARCHES, TRUTH_SEARCH_IMPRESSIONS, TRUTH_PAGE_IMPRESSIONS,
    TRUTH_CAROUSEL_IMPRESSIONS, TRUTH_REVIEWS,
    TRUTH_REVIEW_ASPECTS, TRUTH_PURCHASES,
)

# Relevance of any catalogue item for any search, by one rule: 3 = the intended item,
# 2 = same subcategory and brand, 1 = same subcategory or same category and brand, else 0.
SEARCH_RELEVANCE_VIEW = f"""
CREATE VIEW {TRUTH_SCHEMA}.search_relevance AS
SELECT s.search_id, i.item_id,
       CASE WHEN i.item_id = s.intended_item_id THEN 3
            WHEN i.subcategory = t.subcategory AND i.brand = t.brand THEN 2
            ELSE 1 END AS grade
FROM {TRUTH_SCHEMA}.searches s
JOIN main.items t ON t.item_id = s.intended_item_id
JOIN main.items i ON i.subcategory = t.subcategory OR (i.category = t.category AND i.brand = t.brand)
"""
