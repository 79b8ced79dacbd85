"""Feature services: the exact features each model family uses. Models ask for a service by name."""

from feast import FeatureService

from . import names
from .on_demand import request_context
from .views import (ad_stats, item_content, item_demand, item_embedding, item_forecast, item_review_sentiment, item_stats,
                    user_activity,
                    user_brand_taste, user_category, user_engagement, user_experience, user_monetary, user_price_taste,
                    user_profile, user_realtime, user_recent_items, user_taste)

propensity_v1 = FeatureService(
    name=names.PROPENSITY_V1, features=[user_activity, user_monetary, user_engagement, user_profile],
    description="Who will add to cart or buy next week",
)
churn_v1 = FeatureService(
    name=names.CHURN_V1,
    features=[user_activity, user_monetary, user_engagement, user_profile, user_experience],
    description="Who is about to leave, and why",
)
ctr_v1 = FeatureService(
    name=names.CTR_V1,
    features=[user_activity, user_engagement, user_category, ad_stats, item_stats, item_content, request_context],
    description="Click-through probability of an ad slot",
)
search_v1 = FeatureService(
    name=names.SEARCH_V1, features=[item_stats, item_content],
    description="What an item is and how it sells, for ranking search results",
)
interaction_v1 = FeatureService(
    name=names.INTERACTION_V1,
    features=[user_activity, user_engagement, user_category, item_stats, item_content],
    description="Whether a user likes, favourites or shares an item they view",
)
preference_v1 = FeatureService(
    name=names.PREFERENCE_V1, features=[user_taste, user_activity],
    description="What each user prefers: recent behaviour per category, and how long ago it was",
)
brand_preference_v1 = FeatureService(
    name=names.BRAND_PREFERENCE_V1, features=[user_brand_taste, user_activity],
    description="What each user prefers: recent behaviour per brand, and how long ago it was",
)
price_preference_v1 = FeatureService(
    name=names.PRICE_PREFERENCE_V1, features=[user_price_taste, user_activity],
    description="What each user prefers: recent behaviour per price band, and how long ago it was",
)
forecast_v1 = FeatureService(
    name=names.FORECAST_V1, features=[item_demand, item_stats, item_content],
    description="How many units each item will sell: its recent sales, price, promotions and what it is",
)
item_forecast_v1 = FeatureService(
    name=names.ITEM_FORECAST_V1, features=[item_forecast],
    description="The latest sales forecast of each item, as /forecast serves it",
)
price_v1 = FeatureService(
    name=names.PRICE_V1,
    features=[item_content[["category", "subcategory", "brand"]], item_embedding, item_demand, item_stats],
    description="What an item should list at: what it is and what its text is like, its price and promotions so far",
)
next_item_v1 = FeatureService(
    name=names.NEXT_ITEM_V1, features=[item_embedding],
    description="What each item is, as a text embedding: the sequence models' item side information",
)
review_v1 = FeatureService(
    name=names.REVIEW_V1, features=[item_review_sentiment],
    description="What reviews say of each item: how many, how negative, and per aspect",
)
next_action_v1 = FeatureService(
    name=names.NEXT_ACTION_V1, features=[user_activity, user_engagement, user_realtime],
    description="What a shopper does next in a session: the session so far (real time) and the user's habits",
)
next_category_v1 = FeatureService(
    name=names.NEXT_CATEGORY_V1, features=[user_taste],
    description="Where a shopper's next view lands: their taste for each category",
)

recent_items_v1 = FeatureService(
    name=names.RECENT_ITEMS_V1, features=[user_recent_items],
    description="What a recommendation starts from: the items a user engaged with and bought last",
)

recommend_v1 = FeatureService(
    name=names.RECOMMEND_V1, features=[user_activity, user_taste, item_stats, item_content[["category", "base_price"]]],
    description="What the recommendation ranker reads of a user and a candidate item: the user's activity and "
                "taste for the item's category, and how the item sells",
)

display_order_v1 = FeatureService(
    name=names.DISPLAY_ORDER_V1,
    features=[user_activity, user_monetary, item_stats, item_content[["category", "base_price"]]],
    description="What the display-order ranker reads of a user and an item they are shown: the user's activity "
                "and spending, and how the item sells and what it costs",
)
