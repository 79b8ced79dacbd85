"""Point-in-time-correct training sets: entity rows in, Feast features out, as a Polars frame.

Entity rows hold the entity keys a feature service needs, an ``event_timestamp`` (the as-of time,
tz-aware UTC) and any labels. Each row gets, for every view of the service, the newest snapshot
stamped at or before its as-of time and within the view's TTL; otherwise nulls. Feature columns
are named ``<view>__<feature>`` (views share feature names, e.g. ``views_7d``). Row order and
every input column are kept.

The rows come from Feast's ``get_historical_features`` and nothing else: in the local and
production profiles its offline store is shopml's (``feature_repo/asof_store.py``: Feast's DuckDB
store with the join as one ``ASOF JOIN``), under the Spark profile it is Spark's.
"""

from __future__ import annotations

import polars as pl

from feature_repo.definitions import names
from feature_repo.store import ViewRequest, open_store, view_requests
from shopml.settings import Settings

ROW = "__row"


class EntityRowsError(ValueError):
    """The entity rows cannot be joined: missing keys, or timestamps without a time zone."""


def _check(rows: pl.DataFrame, requests: list[ViewRequest]) -> None:
    keys = {key for request in requests for key in request.keys}
    missing = sorted((keys | {names.EVENT_TIMESTAMP}) - set(rows.columns))
    if missing:
        raise EntityRowsError(f"entity rows lack columns {missing}; they have {rows.columns}")
    dtype = rows.schema[names.EVENT_TIMESTAMP]
    if not isinstance(dtype, pl.Datetime) or dtype.time_zone is None:
        raise EntityRowsError(f"{names.EVENT_TIMESTAMP} must be a tz-aware datetime (UTC), not {dtype}")


def point_in_time_dataset(entity_rows: pl.DataFrame, feature_service: str, settings: Settings | None = None,
                          store=None) -> pl.DataFrame:
    store = store or open_store(settings or Settings.resolve())
    _check(entity_rows, view_requests(store, feature_service))
    rows = entity_rows.with_row_index(ROW).with_columns(pl.col(names.EVENT_TIMESTAMP).dt.convert_time_zone("UTC"))
    job = store.get_historical_features(entity_df=rows.to_pandas(), features=store.get_feature_service(feature_service),
                                        full_feature_names=True)
    joined = pl.from_arrow(job.to_arrow()).sort(ROW)
    return joined.drop(ROW).with_columns(pl.col(names.EVENT_TIMESTAMP).dt.convert_time_zone("UTC"))
