"""Feature views. Batch views hold daily snapshots stamped 00:00 UTC that describe what was known
before that midnight; their TTL is two days, so a lookup more than two days past the newest
snapshot gives nulls rather than stale values. ``item_content`` never expires, and neither do
``user_category``, the taste views and ``user_recent_items``, whose rows are written only on the days
their figures change."""

from datetime import timedelta

from feast import FeatureView, Field
from feast.types import Array, Float32, Float64, Int64, String

from . import names, sources
from .entities import ad, brand, category, item, price_band, user

DAILY_TTL = timedelta(days=2)
REALTIME_TTL = timedelta(minutes=names.SESSION_GAP_MINUTES)   # older counters belong to a finished session
ENTITIES = {names.USER_ID: user, names.ITEM_ID: item, names.AD_ID: ad, names.CATEGORY: category,
            names.BRAND: brand, names.PRICE_BAND: price_band}


def batch_view(name: str, source, ttl: timedelta = DAILY_TTL, description: str = "") -> FeatureView:
    keys, numeric, text = names.FEATURES[name]
    schema = [Field(name=f, dtype=Float64) for f in numeric] + [Field(name=f, dtype=String) for f in text]
    return FeatureView(name=name, entities=[ENTITIES[key] for key in keys], ttl=ttl, schema=schema, source=source,
                       online=True, description=description)


user_activity = batch_view(names.USER_ACTIVITY, sources.user_activity_source,
                           description="Event counts over trailing windows; recency in days")
user_monetary = batch_view(names.USER_MONETARY, sources.user_monetary_source,
                           description="Spend, order value, price paid vs list, coupon use")
user_engagement = batch_view(names.USER_ENGAGEMENT, sources.user_engagement_source,
                             description="Pushes, ads, likes, reviews and searches")
user_profile = batch_view(names.USER_PROFILE, sources.user_profile_source,
                          description="Country, device, age band and tenure")
user_experience = batch_view(names.USER_EXPERIENCE, sources.user_experience_source,
                             description="Price rises seen while browsing, low-rated purchases, low ratings given")
user_category = batch_view(names.USER_CATEGORY, sources.user_category_source, ttl=timedelta(0),
                           description="Views, carts, purchases and ads seen and clicked per category over 90 days")
user_taste = batch_view(names.USER_TASTE, sources.user_taste_source, ttl=timedelta(0),
                        description="Views, carts, purchases and engagements per category, decayed with a month's half-life")
user_brand_taste = batch_view(names.USER_BRAND_TASTE, sources.user_brand_taste_source, ttl=timedelta(0),
                              description="Views, carts, purchases and engagements per brand, decayed like user_taste")
user_price_taste = batch_view(names.USER_PRICE_TASTE, sources.user_price_taste_source, ttl=timedelta(0),
                              description="Views, carts, purchases and engagements per price band, decayed like user_taste")
user_recent_items = batch_view(names.USER_RECENT_ITEMS, sources.user_recent_items_source, ttl=timedelta(0),
                               description="The items a user viewed, carted or bought last, and bought last, "
                                           "newest first (item ids)")
item_stats = batch_view(names.ITEM_STATS, sources.item_stats_source,
                        description="Popularity, conversion, ratings and price movement")
item_content = batch_view(names.ITEM_CONTENT, sources.item_content_source, ttl=timedelta(0),
                          description="What the item is; stamped at launch, never expires")
item_demand = batch_view(names.ITEM_DEMAND, sources.item_demand_source,
                         description="Units sold over trailing windows, sale days, promotions, price against base, "
                                     "the category's units")
ad_stats = batch_view(names.AD_STATS, sources.ad_stats_source,
                      description="Impressions, clicks, conversions and a smoothed CTR over 30 days")

item_embedding = FeatureView(
    name=names.ITEM_EMBEDDING, entities=[item], ttl=timedelta(0),
    schema=[Field(name=names.EMBEDDING, dtype=Array(Float32))],
    source=sources.item_embedding_source, online=True,
    description="Unit text embedding of title + description (written by `shopml index build`)",
)

# weekly snapshots: a lookup more than 8 days past the newest gives nulls
user_embedding = FeatureView(
    name=names.USER_EMBEDDING, entities=[user], ttl=timedelta(days=8),
    schema=[Field(name=names.EMBEDDING, dtype=Array(Float32))],
    source=sources.user_embedding_source, online=True,
    description="The user embedding's vector, weekly (written by `shopml train user_embedding`)",
)

user_segment = FeatureView(
    name=names.USER_SEGMENT, entities=[user], ttl=timedelta(days=8),
    schema=[Field(name=names.SEGMENT, dtype=Int64)], source=sources.user_segment_source, online=True,
    description="The user's segment id in the latest segments model, weekly (written by `shopml train segments`)",
)

# one snapshot, the latest forecast; it never expires (the answer names its first day)
item_forecast = FeatureView(
    name=names.ITEM_FORECAST, entities=[item], ttl=timedelta(0),
    schema=[Field(name=names.FORECAST_FEATURES[0], dtype=String),
            *(Field(name=f, dtype=Array(Float32)) for f in names.FORECAST_FEATURES[1:])],
    source=sources.item_forecast_source, online=True,
    description="The latest daily sales forecast and its interval (written by `shopml train forecast`)",
)

user_realtime = FeatureView(
    name=names.USER_REALTIME, entities=[user], ttl=REALTIME_TTL,
    schema=[Field(name=f, dtype=Float64) for f in names.REALTIME_FEATURES],
    source=sources.user_realtime_push, online=True,
    description="Counters of the current session, pushed as events happen",
)

# weekly snapshots: a lookup more than 8 days past the newest gives nulls
item_review_sentiment = FeatureView(
    name=names.ITEM_REVIEW_SENTIMENT, entities=[item], ttl=timedelta(days=8),
    schema=[Field(name=names.REVIEW_FEATURES[0], dtype=Int64),
            *(Field(name=f, dtype=Float64) for f in names.REVIEW_FEATURES[1:])],
    source=sources.item_review_sentiment_source, online=True,
    description="What the last 90 days of reviews say of the item: count, negative share, sentiment overall and "
                "per aspect, weekly (written by `shopml train feedback`)",
)
