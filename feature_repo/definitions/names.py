"""Every entity key, feature view, feature service and feature column name, defined once.

Pipelines (SQL output columns), Feast definitions, training and services all use these names.
"""

from __future__ import annotations

USER_ID, ITEM_ID, AD_ID, CATEGORY = "user_id", "item_id", "ad_id", "category"
BRAND, PRICE_BAND = "brand", "price_band"
EVENT_TIMESTAMP = "event_timestamp"

USER_ACTIVITY = "user_activity"
USER_MONETARY = "user_monetary"
USER_ENGAGEMENT = "user_engagement"
USER_PROFILE = "user_profile"
USER_EXPERIENCE = "user_experience"
USER_CATEGORY = "user_category"
USER_TASTE = "user_taste"
USER_BRAND_TASTE = "user_brand_taste"
USER_PRICE_TASTE = "user_price_taste"
USER_REALTIME = "user_realtime"
USER_RECENT_ITEMS = "user_recent_items"
ITEM_STATS = "item_stats"
ITEM_CONTENT = "item_content"
ITEM_DEMAND = "item_demand"
AD_STATS = "ad_stats"
ITEM_EMBEDDING = "item_embedding"        # written by `shopml index build`, not by SQL
USER_EMBEDDING = "user_embedding"        # written by `shopml train user_embedding`, not by SQL
USER_SEGMENT = "user_segment"            # written by `shopml train segments`, not by SQL
SEGMENT = "segment"
ITEM_FORECAST = "item_forecast"          # written by `shopml train forecast`, not by SQL
# the latest forecast: its first day (ISO date), then per day the expected units and the interval
FORECAST_FEATURES = ("forecast_origin", "forecast_units", "forecast_lower", "forecast_upper")
ITEM_REVIEW_SENTIMENT = "item_review_sentiment"  # written by `shopml train feedback`, not by SQL
# per item and week, from the reviews of the 90 days before: count, negative share, mean sentiment
# (-1 to 1) and each named aspect's mean sentiment (training.feedback.ASPECTS)
REVIEW_ASPECTS = ("quality", "size", "delivery", "price", "service", "overall")
REVIEW_FEATURES = ("reviews_90d", "negative_share_90d", "sentiment_90d",
                   *(f"{aspect}_sentiment_90d" for aspect in REVIEW_ASPECTS))
# the views written by a command rather than built by SQL, materialised with the others
WRITTEN_VIEWS = (ITEM_EMBEDDING, USER_EMBEDDING, USER_SEGMENT, ITEM_FORECAST, ITEM_REVIEW_SENTIMENT)
REQUEST_CONTEXT = "request_context"
USER_REALTIME_PUSH = "user_realtime_push"
AD_REQUEST = "ad_request"

# the taste views (one SQL, sql/user_taste.sql, over one facet of the item each): decayed counts
TASTE_COUNTS = ("views_decayed", "carts_decayed", "purchases_decayed", "engagements_decayed")
# an item's price band: its price that day against the median list price of its peers that day
# (its subcategory, else its category): below 0.8 budget, above 1.25 premium, else mid
PRICE_BANDS = ("budget", "mid", "premium")

# real-time counters of the current session, pushed per event (user_realtime); its offline history
# is built by SQL like a batch view, its online rows come from the stream only (never materialised)
NAVIGATION = ("search", "view", "cart", "purchase")      # the events that move them; last_action is 1-based
SESSION_GAP_MINUTES = 30       # a session without ids ends after this silence; the view's TTL
REALTIME_FEATURES = ("session_views", "session_carts", "minutes_since_last_event", "session_searches",
                     "session_purchases", "session_minutes", "last_action", "last_view_item")
LAST_VIEW_ITEM = "last_view_item"      # an item id, not a quantity: models read its category, never the id
RECENT_SLOTS = 5               # the items a user engaged with (bought) last, newest first, as item ids like LAST_VIEW_ITEM
RECENT_ITEMS = tuple(f"recent_item_{slot}" for slot in range(1, RECENT_SLOTS + 1))
BOUGHT_ITEMS = tuple(f"bought_item_{slot}" for slot in range(1, RECENT_SLOTS + 1))
# view -> (entity keys, numeric features, text features), in the column order the SQL writes
FEATURES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    USER_ACTIVITY: ((USER_ID,), (
        "views_7d", "views_30d", "carts_7d", "carts_30d", "purchases_7d", "purchases_30d",
        "purchases_90d", "sessions_30d", "distinct_categories_30d", "days_since_last_event",
        "days_since_last_purchase", "purchase_days_total", "days_since_first_purchase"), ()),
    USER_MONETARY: ((USER_ID,), (
        "spend_30d", "spend_90d", "avg_order_value_90d", "avg_price_paid_vs_list_90d",
        "coupons_received_90d", "coupon_redemption_rate_90d", "coupon_active", "coupon_active_discount"), ()),
    USER_ENGAGEMENT: ((USER_ID,), (
        "pushes_received_90d", "push_open_rate_90d", "ad_impressions_30d", "ad_ctr_30d",
        "likes_30d", "favorites_30d", "shares_30d", "reviews_written_90d", "avg_rating_given_90d",
        "searches_30d", "searches_without_click_30d", "pushes_received_2d", "pushes_received_decayed",
        "searches_without_click_decayed"), ()),
    USER_PROFILE: ((USER_ID,), ("tenure_days",), ("country", "device", "age_band")),
    USER_EXPERIENCE: ((USER_ID,), (
        "price_rise_seen_30d", "price_rise_in_taste", "low_rated_purchases_90d", "low_ratings_given_90d",
        "low_rated_purchases_decayed", "low_ratings_given_decayed"), ()),
    USER_CATEGORY: ((USER_ID, CATEGORY), (
        "views_90d", "carts_90d", "purchases_90d", "ad_impressions_90d", "ad_clicks_90d"), ()),
    USER_TASTE: ((USER_ID, CATEGORY), TASTE_COUNTS, ()),
    USER_BRAND_TASTE: ((USER_ID, BRAND), TASTE_COUNTS, ()),
    USER_PRICE_TASTE: ((USER_ID, PRICE_BAND), TASTE_COUNTS, ()),
    ITEM_STATS: ((ITEM_ID,), (
        "views_7d", "purchases_7d", "purchases_30d", "conversion_rate_30d", "avg_rating",
        "review_count", "current_price", "price_change_vs_30d_avg", "days_since_launch"), ()),
    ITEM_CONTENT: ((ITEM_ID,), ("base_price",), ("category", "subcategory", "brand")),
    ITEM_DEMAND: ((ITEM_ID,), (
        "units_1d", "units_7d", "units_14d", "units_28d", "units_56d", "sale_days_28d", "days_since_last_sale",
        "sale_days_total", "units_per_day_on_sale", "promo_days_7d", "on_promo", "price_vs_base", "price_change_vs_28d_avg", "category_units_7d",
        "category_units_28d"), ()),
    AD_STATS: ((AD_ID,), ("impressions_30d", "clicks_30d", "conversions_30d", "smoothed_ctr_30d"), ()),
    USER_REALTIME: ((USER_ID,), REALTIME_FEATURES, ()),
    USER_RECENT_ITEMS: ((USER_ID,), (*RECENT_ITEMS, *BOUGHT_ITEMS), ()),
}
BATCH_VIEWS = tuple(FEATURES)
MATERIALIZED_VIEWS = tuple(view for view in BATCH_VIEWS if view != USER_REALTIME)
# what `shopml features materialize` loads: the batch views and those training and indexing write
ONLINE_VIEWS = (*MATERIALIZED_VIEWS, *WRITTEN_VIEWS)

# the item embedding: one unit vector (float32) per item, title + description through the text model
EMBEDDING = "embedding"
EMBEDDING_DIMENSION = 384

# request-time inputs and the on-demand features computed from them
REQUEST_INPUTS = ("ad_position", "hour_of_day")
REQUEST_FEATURES = ("position_prior", "is_evening", "ctr_position_adjusted")

PROPENSITY_V1, CHURN_V1, CTR_V1, SEARCH_V1 = "propensity_v1", "churn_v1", "ctr_v1", "search_v1"
INTERACTION_V1 = "interaction_v1"
BRAND_PREFERENCE_V1, PRICE_PREFERENCE_V1 = "brand_preference_v1", "price_preference_v1"
PREFERENCE_V1 = "preference_v1"
NEXT_ACTION_V1, NEXT_CATEGORY_V1 = "next_action_v1", "next_category_v1"
FORECAST_V1 = "forecast_v1"              # what the forecast model reads
ITEM_FORECAST_V1 = "item_forecast_v1"    # what /forecast serves: the latest forecast
PRICE_V1 = "price_v1"                    # what the price models read (never an item's own base price)
REVIEW_V1 = "review_v1"                  # what reviews say of each item
NEXT_ITEM_V1 = "next_item_v1"            # the item side information of the sequence models
RECENT_ITEMS_V1 = "recent_items_v1"      # what a recommendation starts from: the user's latest items
RECOMMEND_V1 = "recommend_v1"            # what the recommendation ranker reads of a (user, candidate item)
DISPLAY_ORDER_V1 = "display_order_v1"    # what the display-order ranker reads of a (user, shown item)
