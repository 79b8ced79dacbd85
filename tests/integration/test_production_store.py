"""The production configuration for real: a PostgreSQL SQL registry and a Redis online store
(infra/feature_store.production.yaml), against the servers on this machine. Skipped, with the
reason, where either server is not reachable."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from feature_repo import store as feature_store
from feature_repo.definitions import names
from shopml.settings import Settings, project_root
from training.datasets import point_in_time_dataset

PRODUCTION_YAML = project_root() / "infra" / "feature_store.production.yaml"
POSTGRES = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)
REDIS_DB = 13          # a database of its own, flushed by nobody else


SERVERS_UP = feature_store.reachable(POSTGRES) and feature_store.reachable(REDIS)
WHY_SKIPPED = "needs PostgreSQL on 127.0.0.1:5432 (database test) and Redis on 127.0.0.1:6379"
pytestmark = pytest.mark.skipif(not SERVERS_UP, reason=WHY_SKIPPED)


@contextmanager
def production_store(settings, monkeypatch, redis_db: int = REDIS_DB, yaml: Path = PRODUCTION_YAML):
    """This home's feature store switched to the production file (or ``yaml``): a fresh registry
    schema in PostgreSQL and Redis database ``redis_db``; torn down (schema dropped, keys removed) after."""
    schema = f"shopml_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(feature_store.YAML_ENV_VAR, str(yaml))
    monkeypatch.setenv("SHOPML_REGISTRY_URL",
                       f"postgresql+psycopg2://postgres@{POSTGRES[0]}:{POSTGRES[1]}/test?options=-csearch_path%3D{schema}")
    monkeypatch.setenv("SHOPML_REDIS", f"{REDIS[0]}:{REDIS[1]},db={redis_db}")
    import psycopg2

    with psycopg2.connect(host=POSTGRES[0], port=POSTGRES[1], user="postgres", dbname="test") as pg:
        pg.autocommit = True
        pg.cursor().execute(f"CREATE SCHEMA {schema}")
    try:
        yield settings
    finally:
        feature_store.open_store(settings).teardown()
        with psycopg2.connect(host=POSTGRES[0], port=POSTGRES[1], user="postgres", dbname="test") as pg:
            pg.autocommit = True
            pg.cursor().execute(f"DROP SCHEMA {schema} CASCADE")
        os.environ[feature_store.HOME_ENV_VAR] = str(settings.home)


@pytest.fixture()
def production(model_home, tmp_path, monkeypatch):
    """A home over the shared model home's warehouse and features (read, never written), with its
    registry and online store in production."""
    home = tmp_path / "local"
    home.mkdir()
    (home / "warehouse.duckdb").symlink_to(model_home.warehouse_path)
    (home / "features").symlink_to(model_home.features_dir)
    with production_store(Settings.resolve(home), monkeypatch) as settings:
        yield settings


def test_apply_materialize_and_read_online_through_postgres_and_redis(production):
    settings = production
    feature_store.apply(settings)
    feature_store.materialize(settings)
    store = feature_store.open_store(settings)
    assert store.config.online_store.type == "redis"
    assert {v.name for v in store.list_feature_views()} >= set(names.BATCH_VIEWS)
    newest = feature_store.newest_snapshot(settings)
    users = [1, 2, 3, 5, 8, 13, 21, 34]
    offline = point_in_time_dataset(
        pl.DataFrame({names.USER_ID: users, names.EVENT_TIMESTAMP: [newest] * len(users)}), names.CHURN_V1,
        store=store)
    online = store.get_online_features(features=store.get_feature_service(names.CHURN_V1),
                                       entity_rows=[{names.USER_ID: u} for u in users],
                                       full_feature_names=True).to_dict()
    for column in (c for c in offline.columns if "__" in c):
        assert online[column] == offline[column].to_list(), column

    now = datetime.now(timezone.utc)
    store.push(names.USER_REALTIME_PUSH, pd.DataFrame({
        names.USER_ID: [7], names.EVENT_TIMESTAMP: [now], **{f: [0.0] for f in names.REALTIME_FEATURES},
        "session_views": [4.0], "session_carts": [2.0]}))
    pushed = store.get_online_features(features=[f"{names.USER_REALTIME}:session_carts"],
                                       entity_rows=[{names.USER_ID: 7}]).to_dict()
    assert pushed["session_carts"] == [2.0]
