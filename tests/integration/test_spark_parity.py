"""The Spark path gives DuckDB's answers: every feature view that `shopml features build --engine
spark` writes (PySpark ``local[2]``, the SQL transpiled from the same files) equals DuckDB's build
of the tiny shop row for row, column types included; under infra/feature_store.spark.yaml (Spark
offline store and compute engine, PostgreSQL registry, Redis) Feast's point-in-time rows equal
the local profile's (DuckDB), and what Spark materialises into Redis is the newest offline snapshot.
Skips where Java or PySpark is missing, or (the profile) where PostgreSQL or Redis is."""

from __future__ import annotations

import os
import subprocess
import sys

from datetime import timedelta

import duckdb
import numpy as np
import polars as pl
import pytest

from feature_repo import store as feature_store
from feature_repo.definitions import names
from feature_repo.pipeline import build_features
from feature_repo.spark_engine import CONF_ENV_VAR, MASTER_ENV_VAR, unavailable_reason
from shopml.settings import project_root
from tests.conftest import tiny_shop_home
from tests.integration.test_feature_store import probes
from tests.integration.test_production_store import SERVERS_UP, WHY_SKIPPED, production_store
from training.datasets import point_in_time_dataset

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(unavailable_reason() is not None, reason=f"Spark: {unavailable_reason()}")]
# the tiny shop needs no more: every stage of every view is one or two small tasks
SPARK_ENV = {MASTER_ENV_VAR: "local[2]", CONF_ENV_VAR: "spark.sql.shuffle.partitions=2 spark.driver.memory=1g"}
SPARK_YAML = project_root() / "infra" / "feature_store.spark.yaml"
SPARK_REDIS_DB = 11     # a database of its own (the production tests use 12 and 13)


@pytest.fixture(scope="module")
def homes(tiny_warehouse, tmp_path_factory):
    duck = tiny_shop_home(tiny_warehouse, tmp_path_factory, "duckdb_build")
    spark = tiny_shop_home(tiny_warehouse, tmp_path_factory, "spark_build")
    build_features(duck)
    done = subprocess.run([sys.executable, "-m", "shopml.cli", "features", "build", "--engine", "spark",
                           "--home", str(spark.home)], capture_output=True, text=True,
                          env={**os.environ, **SPARK_ENV})
    assert done.returncode == 0, done.stdout + done.stderr
    return duck, spark


def sorted_table(path) -> pl.DataFrame:
    table = pl.read_parquet(path)
    return table.sort(table.columns, nulls_last=True)


@pytest.mark.parametrize("view", names.BATCH_VIEWS)
def test_every_view_built_by_spark_equals_duckdbs_row_for_row(homes, view):
    duck, spark = (sorted_table(home.features_dir / f"{view}.parquet") for home in homes)
    assert spark.schema == duck.schema
    assert spark.height == duck.height > 0
    for column in duck.columns:
        if duck[column].dtype.is_float():       # sums over windows may add in another order
            np.testing.assert_allclose(spark[column].to_numpy(), duck[column].to_numpy(), rtol=1e-9, atol=1e-9,
                                       equal_nan=True, err_msg=f"{view}.{column}")
        else:
            assert spark[column].equals(duck[column]), f"{view}.{column}"


def test_a_second_spark_build_keeps_the_unchanged_views_without_starting_spark(homes):
    _, spark = homes
    done = subprocess.run([sys.executable, "-m", "shopml.cli", "features", "build", "--engine", "spark",
                           "--home", str(spark.home)], capture_output=True, text=True,
                          env={**os.environ, **SPARK_ENV, "JAVA_HOME": "/nonexistent"})   # Spark could not start
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("unchanged, kept") == len(names.BATCH_VIEWS)


@pytest.fixture(scope="module")
def local_store(homes):
    """DuckDB's build of the tiny shop, applied locally: its store answers with DuckDB."""
    duck, _ = homes
    feature_store.apply(duck)
    return feature_store.open_store(duck)


@pytest.fixture(scope="module")
def spark_profile(homes, local_store):
    """The same home under the Spark profile, applied to a fresh registry."""
    if not SERVERS_UP:
        pytest.skip(WHY_SKIPPED)
    duck, _ = homes
    with pytest.MonkeyPatch.context() as patch, \
            production_store(duck, patch, redis_db=SPARK_REDIS_DB, yaml=SPARK_YAML) as settings:
        feature_store.apply(settings)
        yield settings


def test_feasts_spark_offline_store_gives_the_point_in_time_rows_of_duckdbs(spark_profile, local_store, tiny_warehouse):
    store = feature_store.open_store(spark_profile)
    assert store.config.offline_store.type == "spark"
    rows = probes(tiny_warehouse, names.USER_ID, "users", 400, seed=5)
    via_spark = point_in_time_dataset(rows, names.CHURN_V1, store=store)
    via_duckdb = point_in_time_dataset(rows, names.CHURN_V1, store=local_store)
    assert via_spark.columns == via_duckdb.columns
    assert via_spark.equals(via_duckdb, null_equal=True)
    assert via_duckdb[f"{names.USER_ACTIVITY}__views_30d"].null_count() < len(rows) // 2


def test_sparks_compute_engine_materialises_the_newest_snapshot_into_redis(spark_profile, local_store, tiny_warehouse):
    store = feature_store.open_store(spark_profile)
    views = [view.name for view in store.get_feature_service(names.CHURN_V1).feature_view_projections]
    newest = feature_store.newest_snapshot(spark_profile)
    store.materialize(start_date=newest - timedelta(days=2), end_date=newest + timedelta(seconds=1), feature_views=views)
    with duckdb.connect(str(tiny_warehouse), read_only=True) as con:
        users = [r[0] for r in con.execute("SELECT user_id FROM users WHERE signup_ts < ? ORDER BY hash(user_id) "
                                           "LIMIT 60", [newest]).fetchall()]
    offline = point_in_time_dataset(pl.DataFrame({names.USER_ID: users, names.EVENT_TIMESTAMP: [newest] * len(users)}),
                                    names.CHURN_V1, store=local_store)
    online = store.get_online_features(features=store.get_feature_service(names.CHURN_V1),
                                       entity_rows=[{names.USER_ID: u} for u in users], full_feature_names=True).to_dict()
    for column in (c for c in offline.columns if "__" in c):
        assert online[column] == offline[column].to_list(), column
