"""The feature build: run each view's SQL (``sql/<view>.sql``; the taste views share
``sql/user_taste.sql``, one facet each) against the warehouse and write
``<home>/features/<view>.parquet``, keyed by entity id + ``event_timestamp``.

Snapshots are stamped 00:00 UTC of each day D from the day after the first event to the day
after the last one, and describe only facts with ``ts < D``. Each file is written beside its
target and moved into place when complete. A view is rebuilt only when its SQL or the warehouse
changed since its last build (a manifest records both), so a second build is nearly free.

Two engines run the same SQL files: DuckDB over the warehouse file (the default), and Spark
(``feature_repo.spark_engine``: the SQL transpiled from DuckDB's dialect by
``feature_repo.spark_sql``) for a shop that outgrows one machine. Their files are equal row for
row (``tests/integration/test_spark_parity.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from feature_repo.definitions import names
from shopml.settings import Settings
from shopml.warehouse.database import limit_memory

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parent / "sql"
MANIFEST = "manifest.json"
# each event (e) with its item (i), and where a price band is wanted, the median list price of the
# item's peers (its subcategory, else its category) that day (pp), joined on (item, day): joined on
# the peer group, DuckDB paired every event with every group's price that day first (40 rows per
# event; more than 40 GB of spill at 1,000,000 users, docs/pitfalls.md)
EVENTS_SQL = "events e JOIN items i USING (item_id)"
EVENTS_WITH_PEERS_SQL = f"""{EVENTS_SQL}
    LEFT JOIN (SELECT peer.item_id, pm.day, pm.median_price
               FROM items peer
               JOIN (SELECT coalesce(i.subcategory, i.category, '') AS peers, p.day, median(p.price) AS median_price
                     FROM prices p JOIN items i USING (item_id) GROUP BY ALL) pm
                 ON pm.peers = coalesce(peer.subcategory, peer.category, '')) pp
      ON pp.item_id = e.item_id AND pp.day = CAST(e.ts AS DATE)"""
# taste view -> its facet's value for an event, and the events it is read from
PRICE_BAND_SQL = ("CASE WHEN pp.median_price IS NULL THEN NULL WHEN e.price < 0.8 * pp.median_price THEN '{0}' "
                  "WHEN e.price > 1.25 * pp.median_price THEN '{2}' ELSE '{1}' END").format(*names.PRICE_BANDS)
TASTE_FACETS = {names.USER_TASTE: ("i.category", EVENTS_SQL), names.USER_BRAND_TASTE: ("i.brand", EVENTS_SQL),
                names.USER_PRICE_TASTE: (PRICE_BAND_SQL, EVENTS_WITH_PEERS_SQL)}

CALENDAR_SQL = """
CREATE TEMP TABLE snapshot_days AS
WITH span AS (SELECT CAST(min(ts) AS DATE) + 1 AS first_day, CAST(max(ts) AS DATE) + 1 AS last_day FROM events)
SELECT CAST(day AS DATE) AS day
FROM (SELECT unnest(generate_series(first_day, last_day, INTERVAL 1 DAY)) AS day FROM span);
CREATE TEMP TABLE user_snapshots AS
SELECT u.user_id, s.day FROM users u JOIN snapshot_days s ON u.signup_ts < s.day;
"""
# the empty tables of the views that `shopml index build` and training fill (_write_placeholders)
EMBEDDING_SCHEMA = (f"SELECT CAST(NULL AS BIGINT) AS {{key}}, CAST(NULL AS TIMESTAMPTZ) AS "
                    f"{names.EVENT_TIMESTAMP}, CAST(NULL AS FLOAT[]) AS {names.EMBEDDING} WHERE false")


SEGMENT_SCHEMA = (f"SELECT CAST(NULL AS BIGINT) AS {names.USER_ID}, CAST(NULL AS TIMESTAMPTZ) AS "
                  f"{names.EVENT_TIMESTAMP}, CAST(NULL AS BIGINT) AS {names.SEGMENT} WHERE false")
FORECAST_SCHEMA = (f"SELECT CAST(NULL AS BIGINT) AS {names.ITEM_ID}, CAST(NULL AS TIMESTAMPTZ) AS "
                   f"{names.EVENT_TIMESTAMP}, CAST(NULL AS VARCHAR) AS {names.FORECAST_FEATURES[0]}, "
                   + ", ".join(f"CAST(NULL AS FLOAT[]) AS {f}" for f in names.FORECAST_FEATURES[1:]) + " WHERE false")
REVIEW_SCHEMA = (f"SELECT CAST(NULL AS BIGINT) AS {names.ITEM_ID}, CAST(NULL AS TIMESTAMPTZ) AS "
                 f"{names.EVENT_TIMESTAMP}, CAST(NULL AS BIGINT) AS {names.REVIEW_FEATURES[0]}, "
                 + ", ".join(f"CAST(NULL AS DOUBLE) AS {f}" for f in names.REVIEW_FEATURES[1:]) + " WHERE false")


ENGINES = ("duckdb", "spark")


class FeatureBuildError(RuntimeError):
    """A view's SQL did not produce the columns its Feast definition declares."""


@dataclass
class ViewBuild:
    view: str
    rows: int
    seconds: float
    skipped: bool


def expected_columns(view: str) -> list[str]:
    keys, numeric, text = names.FEATURES[view]
    return [*keys, names.EVENT_TIMESTAMP, *numeric, *text]


def view_sql(view: str) -> str:
    """The query that builds ``view``."""
    if view in TASTE_FACETS:
        facet = names.FEATURES[view][0][1]
        value, events = TASTE_FACETS[view]
        return (SQL_DIR / f"{names.USER_TASTE}.sql").read_text().format(facet=facet, value=value, events=events)
    return (SQL_DIR / f"{view}.sql").read_text()


def _fingerprint(view: str, warehouse: Path) -> str:
    stat = warehouse.stat()
    text = view_sql(view)
    return hashlib.sha256(f"{text}|{warehouse.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()


def _copy(con: duckdb.DuckDBPyConnection, query: str, staging: Path) -> int:
    """Write the query's rows to the parquet file ``staging``; return how many."""
    con.execute(f"COPY ({query}) TO '{staging}' (FORMAT parquet, COMPRESSION zstd)")
    return con.execute(f"SELECT count(*) FROM read_parquet('{staging}')").fetchall()[0][0]


class DuckDBEngine:
    """Runs the view queries in DuckDB over the warehouse file (the default engine)."""

    def __init__(self, warehouse: Path):
        self.con = limit_memory(duckdb.connect())
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET enable_progress_bar = false")
        self.con.execute("SET preserve_insertion_order = false")       # row order of a feature file is free
        self.con.execute(f"SET temp_directory = '{warehouse.parent / '.duckdb_spill'}'")
        self.con.execute(f"ATTACH '{warehouse}' AS wh (READ_ONLY)")
        self.con.execute("USE wh")
        self.con.execute(CALENDAR_SQL)

    def columns(self, query: str) -> list[str]:
        return [row[0] for row in self.con.execute(f"DESCRIBE {query}").fetchall()]

    def write(self, query: str, staging: Path) -> int:
        return _copy(self.con, query, staging)

    def close(self) -> None:
        self.con.close()


def _write_parquet(write: Callable[[str, Path], int], query: str, target: Path) -> int:
    """``write(query, staging)`` beside ``target``, then moved into place; the rows written."""
    staging = target.with_name(f".{target.name}.{os.getpid()}.building")
    try:
        rows = write(query, staging)
        os.replace(staging, target)
        return rows
    finally:
        staging.unlink(missing_ok=True)


def _check_columns(engine, view: str, query: str) -> None:
    produced = engine.columns(query)
    if produced != expected_columns(view):
        raise FeatureBuildError(f"sql/{view}.sql produces {produced}, but {view} declares {expected_columns(view)}")


def _open_engine(settings: Settings, engine: str):
    if engine == "duckdb":
        return DuckDBEngine(settings.warehouse_path)
    from feature_repo.spark_engine import SparkEngine

    return SparkEngine(settings, CALENDAR_SQL, [view_sql(view) for view in names.BATCH_VIEWS])


def build_features(settings: Settings, views: Iterable[str] | None = None, force: bool = False,
                   on_view: Callable[[ViewBuild], None] | None = None, engine: str = "duckdb") -> list[ViewBuild]:
    """Build the requested views (default: all) with ``engine`` (``ENGINES``) and return what was
    built or skipped. Both engines run the same SQL files and write the same files."""
    chosen = list(views) if views is not None else list(names.BATCH_VIEWS)
    unknown = sorted(set(chosen) - set(names.BATCH_VIEWS))
    if unknown:
        raise ValueError(f"unknown feature views {unknown}; known: {list(names.BATCH_VIEWS)}")
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; known: {list(ENGINES)}")
    if not settings.warehouse_path.is_file():
        raise FileNotFoundError(f"no warehouse at {settings.warehouse_path}: run `shopml simulate` or "
                                "`shopml ingest` first")
    out_dir = settings.features_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    fingerprints = {view: _fingerprint(view, settings.warehouse_path) for view in chosen}
    stale = [view for view in chosen if force or not (out_dir / f"{view}.parquet").is_file()
             or manifest.get(view, {}).get("fingerprint") != fingerprints[view]]
    results = []
    runner = _open_engine(settings, engine) if stale else None     # a Spark session only when needed
    try:
        for view in chosen:
            started = time.perf_counter()
            if view not in stale:
                result = ViewBuild(view, manifest[view]["rows"], 0.0, skipped=True)
            else:
                query = view_sql(view).strip().rstrip(";")
                _check_columns(runner, view, query)
                rows = _write_parquet(runner.write, query, out_dir / f"{view}.parquet")
                result = ViewBuild(view, rows, time.perf_counter() - started, skipped=False)
                manifest[view] = {"fingerprint": fingerprints[view], "rows": rows}
                manifest_path.write_text(json.dumps(manifest, indent=2))
            results.append(result)
            if on_view is not None:
                on_view(result)
    finally:
        if runner is not None:
            runner.close()
    _write_placeholders(out_dir)
    return results


def _write_placeholders(out_dir: Path) -> None:
    """Until ``shopml index build`` and training write them, the views those fill exist empty."""
    placeholders = {names.ITEM_EMBEDDING: EMBEDDING_SCHEMA.format(key=names.ITEM_ID),
                    names.USER_EMBEDDING: EMBEDDING_SCHEMA.format(key=names.USER_ID),
                    names.USER_SEGMENT: SEGMENT_SCHEMA, names.ITEM_FORECAST: FORECAST_SCHEMA,
                    names.ITEM_REVIEW_SENTIMENT: REVIEW_SCHEMA}
    missing = {view: sql for view, sql in placeholders.items() if not (out_dir / f"{view}.parquet").is_file()}
    if not missing:
        return
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        for view, sql in missing.items():
            _write_parquet(lambda query, staging: _copy(con, query, staging), sql, out_dir / f"{view}.parquet")
