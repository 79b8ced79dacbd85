"""The feature build on Spark: ``shopml features build --engine spark``.

The same SQL files as DuckDB's build, transpiled (``feature_repo.spark_sql``), over the warehouse's
tables as parquet (the lake), writing the same ``<home>/features/<view>.parquet`` files. Where the
lake is not given (``SHOPML_SPARK_LAKE``), the tables the views read are exported from the
warehouse file to ``<home>/lake/`` first, again only when the warehouse changed.

Where Spark runs is ``SHOPML_SPARK_MASTER`` (default ``local[*]``: this machine's cores); any
further Spark setting comes from ``SHOPML_SPARK_CONF`` (``key=value`` pairs separated by
spaces), e.g. ``spark.driver.memory=8g``. docs/scale-out.md says how to point it at a cluster.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import psutil
import sqlglot
from sqlglot import exp

from feature_repo.spark_sql import to_spark
from shopml.settings import Settings

MASTER_ENV_VAR = "SHOPML_SPARK_MASTER"
LAKE_ENV_VAR = "SHOPML_SPARK_LAKE"
CONF_ENV_VAR = "SHOPML_SPARK_CONF"
LAKE_STAMP = "exported_from.json"
# DuckDB's semantics where Spark's default differs: UTC days, NULL (not an error) for a division by
# zero or an index past a list's end, timestamps as parquet's microseconds (not the legacy INT96)
REQUIRED_CONF = {"spark.sql.session.timeZone": "UTC", "spark.sql.ansi.enabled": "false",
                 "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS"}
# Defaults that SHOPML_SPARK_CONF may override. A broadcast join only on a side's measured size
# (adaptive execution's), never on the planner's estimate: at 1,000,000 users an estimate chose to
# broadcast a side of user_experience that did not fit the driver ("Not enough memory to build and
# broadcast the table").
DEFAULT_CONF = {"spark.sql.autoBroadcastJoinThreshold": "-1", "spark.sql.adaptive.autoBroadcastJoinThreshold": "10MB"}
# on local masters the driver does all the work: half the machine's memory, as DuckDB's limit
LOCAL_CONF = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
              "spark.driver.memory": f"{psutil.virtual_memory().total // 2**21}m", "spark.sql.shuffle.partitions": "8"}


class SparkUnavailableError(RuntimeError):
    """Spark cannot start here: PySpark or Java is missing."""


@dataclass(frozen=True)
class SparkOptions:
    master: str = "local[*]"
    lake: str | None = None                     # the warehouse tables as parquet; None: export them
    conf: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> SparkOptions:
        pairs = os.environ.get(CONF_ENV_VAR, "").split()
        malformed = [pair for pair in pairs if "=" not in pair]
        if malformed:
            raise ValueError(f"{CONF_ENV_VAR} takes key=value pairs; not one: {malformed}")
        return cls(master=os.environ.get(MASTER_ENV_VAR, cls.master), lake=os.environ.get(LAKE_ENV_VAR),
                   conf=dict(pair.split("=", 1) for pair in pairs))


def unavailable_reason() -> str | None:
    """Why Spark cannot start on this machine, or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "PySpark is not installed"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "Java is not installed (Spark needs Java 17 or newer)"
    return None


def read_tables(texts: list[str], temporary: set[str]) -> list[str]:
    """The warehouse tables SQL ``texts`` read: every table they name that is not one of their CTEs
    nor one of the ``temporary`` tables the build makes."""
    tables: set[str] = set()
    for text in texts:
        for statement in sqlglot.parse(text, read="duckdb"):
            ctes = {cte.alias for cte in statement.find_all(exp.CTE)}
            tables |= {table.name for table in statement.find_all(exp.Table)} - ctes
    return sorted(tables - temporary)


def export_lake(warehouse: Path, lake: Path, tables: list[str]) -> None:
    """Write the tables the views read from the warehouse file to ``lake/<table>.parquet``, unless
    the lake already holds this warehouse's tables."""
    stat = warehouse.stat()
    stamp = {"warehouse": str(warehouse.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    stamp_path = lake / LAKE_STAMP
    if stamp_path.is_file() and json.loads(stamp_path.read_text()) == stamp:
        return
    lake.mkdir(parents=True, exist_ok=True)
    stamp_path.unlink(missing_ok=True)
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"ATTACH '{warehouse}' AS wh (READ_ONLY)")
        for table in tables:
            staging = lake / f".{table}.parquet.{os.getpid()}.building"
            con.execute(f"COPY wh.main.{table} TO '{staging}' (FORMAT parquet, COMPRESSION zstd)")
            os.replace(staging, lake / f"{table}.parquet")
    stamp_path.write_text(json.dumps(stamp))


class SparkEngine:
    """Runs the view queries in a Spark session over the lake (the build's other engine)."""

    def __init__(self, settings: Settings, calendar_sql: str, queries: list[str], options: SparkOptions | None = None):
        """``calendar_sql``: the ``CREATE TEMP TABLE name AS query`` statements every view reads;
        ``queries``: the views' queries, from which the tables to read are found."""
        reason = unavailable_reason()
        if reason is not None:
            raise SparkUnavailableError(f"cannot build on Spark: {reason}")
        self.options = options or SparkOptions.from_env()
        calendar = sqlglot.parse(calendar_sql, read="duckdb")
        tables = read_tables([*queries, calendar_sql], {statement.this.name for statement in calendar})
        lake = self.options.lake or str(settings.home / "lake")
        if self.options.lake is None:
            export_lake(settings.warehouse_path, Path(lake), tables)
        self.spark = self._session()
        for table in tables:
            self.spark.read.parquet(f"{lake}/{table}.parquet").createOrReplaceTempView(table)
        for statement in calendar:
            query = to_spark(statement.expression.sql(dialect="duckdb"))
            self.spark.sql(query).cache().createOrReplaceTempView(statement.this.name)

    def _session(self):
        from pyspark.sql import SparkSession

        local = self.options.master.startswith("local")
        conf = {**DEFAULT_CONF, **(LOCAL_CONF if local else {}), **self.options.conf, **REQUIRED_CONF}
        builder = SparkSession.builder.master(self.options.master).appName("shopml-features")
        for key, value in conf.items():
            builder = builder.config(key, value)
        self.owns_session = SparkSession.getActiveSession() is None     # else it is someone's (Feast's), kept
        session = builder.getOrCreate()
        for key, value in REQUIRED_CONF.items():             # also on a session that was already running
            session.conf.set(key, value)
        session.sparkContext.setLogLevel("ERROR")
        return session

    def columns(self, query: str) -> list[str]:
        return self.spark.sql(to_spark(query)).columns

    def write(self, query: str, staging: Path) -> int:
        """Write the query's rows as the one parquet file ``staging``; return how many."""
        import pyarrow.parquet as pq

        parts = staging.with_name(staging.name + ".parts")
        try:
            # one file, as DuckDB writes: a final exchange into one partition keeps the query parallel
            self.spark.sql(to_spark(query)).repartition(1).write.mode("overwrite") \
                .option("compression", "zstd").parquet(str(parts))
            (part,) = parts.glob("part-*.parquet")
            os.replace(part, staging)
        finally:
            shutil.rmtree(parts, ignore_errors=True)
        return pq.ParquetFile(staging).metadata.num_rows

    def close(self) -> None:
        if self.owns_session:
            self.spark.stop()
