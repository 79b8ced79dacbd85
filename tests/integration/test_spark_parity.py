"""The Spark path gives DuckDB's answers: every feature view that `shopml features build --engine
spark` writes (PySpark ``local[2]``, the SQL transpiled from the same files) equals DuckDB's build
of the tiny shop row for row, column types included. Skips where Java or PySpark is missing."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import polars as pl
import pytest

from feature_repo.definitions import names
from feature_repo.pipeline import build_features
from feature_repo.spark_engine import CONF_ENV_VAR, MASTER_ENV_VAR, unavailable_reason
from tests.conftest import tiny_shop_home

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(unavailable_reason() is not None, reason=f"Spark: {unavailable_reason()}")]
# the tiny shop needs no more: every stage of every view is one or two small tasks
SPARK_ENV = {MASTER_ENV_VAR: "local[2]", CONF_ENV_VAR: "spark.sql.shuffle.partitions=2 spark.driver.memory=1g"}


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
