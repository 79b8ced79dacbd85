"""Where feature values come from: one parquet file per batch view under ``<home>/features/``
(written by ``shopml features build``), a push source for real-time counters, and the
request-time inputs of ad scoring. The files are file sources for DuckDB's offline store, and
Spark sources where the chosen ``feature_store.yaml`` has Spark's (``feature_repo.store_profile``)."""

from feast import Field, FileSource, PushSource, RequestSource
from feast.types import Int64

from feature_repo.store_profile import offline_store_type
from shopml.settings import Settings

from . import names

FEATURES_DIR = Settings.resolve().features_dir
SPARK_SOURCES = offline_store_type() == "spark"          # read once, for every source


def parquet_source(view: str):
    path = str(FEATURES_DIR / f"{view}.parquet")
    if SPARK_SOURCES:
        from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource

        return SparkSource(name=f"{view}_source", path=path, file_format="parquet",
                           timestamp_field=names.EVENT_TIMESTAMP)
    return FileSource(name=f"{view}_source", path=path, timestamp_field=names.EVENT_TIMESTAMP)


user_activity_source = parquet_source(names.USER_ACTIVITY)
user_monetary_source = parquet_source(names.USER_MONETARY)
user_engagement_source = parquet_source(names.USER_ENGAGEMENT)
user_profile_source = parquet_source(names.USER_PROFILE)
user_experience_source = parquet_source(names.USER_EXPERIENCE)
user_category_source = parquet_source(names.USER_CATEGORY)
user_taste_source = parquet_source(names.USER_TASTE)
user_recent_items_source = parquet_source(names.USER_RECENT_ITEMS)
user_brand_taste_source = parquet_source(names.USER_BRAND_TASTE)
user_price_taste_source = parquet_source(names.USER_PRICE_TASTE)
item_stats_source = parquet_source(names.ITEM_STATS)
item_content_source = parquet_source(names.ITEM_CONTENT)
item_demand_source = parquet_source(names.ITEM_DEMAND)
ad_stats_source = parquet_source(names.AD_STATS)
item_embedding_source = parquet_source(names.ITEM_EMBEDDING)
user_embedding_source = parquet_source(names.USER_EMBEDDING)
user_segment_source = parquet_source(names.USER_SEGMENT)
item_forecast_source = parquet_source(names.ITEM_FORECAST)
item_review_sentiment_source = parquet_source(names.ITEM_REVIEW_SENTIMENT)

user_realtime_push = PushSource(name=names.USER_REALTIME_PUSH,
                                batch_source=parquet_source(names.USER_REALTIME))

ad_request = RequestSource(name=names.AD_REQUEST,
                           schema=[Field(name=column, dtype=Int64) for column in names.REQUEST_INPUTS])
