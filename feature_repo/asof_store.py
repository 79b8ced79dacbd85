"""A Feast offline store whose point-in-time join is one DuckDB ``ASOF JOIN``.

``feature_store.yaml`` names it (``offline_store: type: feature_repo.asof_store.AsofOfflineStore``),
so ``FeatureStore.get_historical_features``, the Feast CLI and training all get it. It is Feast's
DuckDB offline store (every other operation is inherited) with another
``get_historical_features``: per feature view, the newest row stamped at or before each entity
row's time for the same keys, kept while ``entity time - row time <= ttl`` (a ttl of 0 or none:
forever), as Feast defines it. Stock Feast's DuckDB store reaches the same frame through Ibis in
several passes over each source: on the 1,000,000-row bench (bench/pit_retrieval.py) it takes 2.5
times a plain ASOF join's time, this store 1.2 times.

What it does not plan itself goes to the stock join, unchanged: an entity SQL query instead of a
frame, sources that are not parquet files, field mappings, created-timestamp tie-breaks, and
Substrait on-demand views. Other on-demand views are computed by Feast's ``RetrievalJob``, as for
every store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import List, Optional, Union

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from feast import FeatureView, FileSource, OnDemandFeatureView
from feast.errors import FeastEntityDFMissingColumnsError
from feast.infra.offline_stores import offline_utils
from feast.infra.offline_stores.duckdb import DuckDBOfflineStore, DuckDBOfflineStoreConfig
from feast.infra.offline_stores.offline_store import RetrievalJob, RetrievalMetadata
from feast.infra.registry.base_registry import BaseRegistry
from feast.repo_config import RepoConfig
from feast.saved_dataset import SavedDatasetStorage
from pydantic import StrictStr

from shopml.warehouse.database import limit_memory

ROW = "__asof_row"


class AsofOfflineStoreConfig(DuckDBOfflineStoreConfig):
    type: StrictStr = "feature_repo.asof_store.AsofOfflineStore"


@dataclass(frozen=True)
class _ViewRead:
    path: str
    keys: dict[str, str]                 # the view's join column -> the entity frame's column
    timestamp: str
    features: list[str]                  # the view's columns
    names: list[str]                     # their names in the answer
    ttl: Optional[timedelta]


class AsofOfflineStore(DuckDBOfflineStore):
    @staticmethod
    def get_historical_features(config: RepoConfig, feature_views: List[FeatureView], feature_refs: List[str],
                                entity_df: Union[pd.DataFrame, str], registry: BaseRegistry, project: str,
                                full_feature_names: bool = False,
                                filter_by_created_timestamp: bool = False) -> RetrievalJob:
        odfvs = OnDemandFeatureView.get_requested_odfvs(feature_refs, project, registry)
        if (not isinstance(entity_df, pd.DataFrame) or filter_by_created_timestamp
                or any(odfv.mode == "substrait" for odfv in odfvs)
                or any(_stock_only(view) for view in feature_views)):
            return DuckDBOfflineStore.get_historical_features(
                config, feature_views, feature_refs, entity_df, registry, project, full_feature_names,
                filter_by_created_timestamp)
        schema = dict(zip(entity_df.columns, entity_df.dtypes))
        timestamp = offline_utils.infer_event_timestamp_from_entity_df(schema)
        expected = offline_utils.get_expected_join_keys(project, feature_views, registry) | {timestamp}
        missing = expected - set(entity_df.columns)
        if missing:                                    # Feast's error class, naming the keys (not a SQL error)
            raise FeastEntityDFMissingColumnsError(expected, missing)
        entities = entity_df.copy(deep=False)
        stamps = pd.to_datetime(entities[timestamp], utc=True)     # naive times are UTC, as Feast reads them
        entities[timestamp] = stamps
        reads = [view_read(view, feature_refs, full_feature_names, str(config.repo_path)) for view in feature_views]
        metadata = RetrievalMetadata(features=feature_refs, keys=list(set(entity_df.columns) - {timestamp}),
                                     min_event_timestamp=stamps.min(), max_event_timestamp=stamps.max())
        return AsofRetrievalJob(entities, timestamp, reads, odfvs, full_feature_names, metadata)


def _stock_only(view: FeatureView) -> bool:
    source = view.batch_source
    return (not isinstance(source, FileSource) or bool(source.field_mapping) or bool(source.created_timestamp_column)
            or not str(source.path).endswith(".parquet"))


def view_read(view: FeatureView, feature_refs: List[str], full_feature_names: bool, repo_path: str) -> _ViewRead:
    source = view.batch_source
    path = source.path if os.path.isabs(source.path) else os.path.join(repo_path, source.path)
    prefix = view.projection.name_to_use()
    features = [ref.split(":", 1)[1] for ref in feature_refs if ref.startswith(f"{prefix}:")]
    named_as = view.projection.name_alias or view.name
    return _ViewRead(path=path,
                     keys=view.projection.join_key_map or {column.name: column.name for column in view.entity_columns},
                     timestamp=source.timestamp_field, features=features,
                     names=[f"{named_as}__{f}" if full_feature_names else f for f in features],
                     ttl=view.ttl)


def asof_query(entity_columns: list[str], timestamp: str, reads: list[_ViewRead], entities: str = "entity_rows") -> str:
    """One query: the entity rows (keeping their order and every column) with each view's
    features as of each row's time (``timestamp``), within the view's TTL."""
    quoted = '"{}"'.format
    selects = [f"e.{quoted(column)}" for column in entity_columns]
    joins = []
    for i, read in enumerate(reads):
        alias = f"v{i}"
        on = " AND ".join(f"e.{quoted(entity_column)} = {alias}.{quoted(view_column)}"
                          for view_column, entity_column in read.keys.items())
        columns = ", ".join([*map(quoted, read.keys), f"{quoted(read.timestamp)} AS __ts", *map(quoted, read.features)])
        joins.append(f"ASOF LEFT JOIN (SELECT {columns} FROM read_parquet('{read.path}')) {alias} "
                     f"ON {on} AND e.{quoted(timestamp)} >= {alias}.__ts")
        fresh = (f"e.{quoted(timestamp)} - {alias}.__ts <= INTERVAL {int(read.ttl.total_seconds())} SECOND"
                 if read.ttl else "true")
        selects += [f"CASE WHEN {fresh} THEN {alias}.{quoted(feature)} END AS {quoted(name)}"
                    for feature, name in zip(read.features, read.names)]
    return f"SELECT {', '.join(selects)} FROM {entities} e {' '.join(joins)} ORDER BY e.{ROW}"


class AsofRetrievalJob(RetrievalJob):
    def __init__(self, entities: pd.DataFrame, timestamp: str, reads: list[_ViewRead],
                 odfvs: list[OnDemandFeatureView], full_feature_names: bool, metadata: RetrievalMetadata):
        self.entities, self.timestamp, self.reads = entities, timestamp, reads
        self._odfvs, self._full_feature_names, self._metadata = odfvs, full_feature_names, metadata

    @property
    def full_feature_names(self) -> bool:
        return self._full_feature_names

    @property
    def on_demand_feature_views(self) -> List[OnDemandFeatureView]:
        return self._odfvs

    @property
    def metadata(self) -> Optional[RetrievalMetadata]:
        return self._metadata

    def to_sql(self) -> str:
        return asof_query(list(self.entities.columns), self.timestamp, self.reads)

    def _to_arrow_internal(self, timeout: Optional[int] = None) -> pa.Table:
        rows = pa.Table.from_pandas(self.entities, preserve_index=False)
        rows = rows.append_column(ROW, pa.array(range(rows.num_rows), pa.int64()))
        # in microseconds, as the sources keep time, and as stock Feast answers
        rows = rows.set_column(rows.schema.get_field_index(self.timestamp), self.timestamp,
                               rows[self.timestamp].cast(pa.timestamp("us", "UTC"), safe=False))
        with limit_memory(duckdb.connect()) as con:
            con.execute("SET TimeZone = 'UTC'")
            con.register("entity_rows", rows)
            return con.sql(self.to_sql()).to_arrow_table()

    def _to_df_internal(self, timeout: Optional[int] = None) -> pd.DataFrame:
        return self._to_arrow_internal(timeout).to_pandas()

    def persist(self, storage: SavedDatasetStorage, allow_overwrite: bool = False, timeout: Optional[int] = None):
        from feast.infra.offline_stores.file_source import SavedDatasetFileStorage

        if not isinstance(storage, SavedDatasetFileStorage):
            raise NotImplementedError(f"{type(self).__name__} persists to a file storage, not {type(storage).__name__}")
        path = storage.file_options.uri
        if not allow_overwrite and os.path.exists(path):
            raise FileExistsError(f"{path} exists; pass allow_overwrite=True to replace it")
        pq.write_table(self.to_arrow(), path)
