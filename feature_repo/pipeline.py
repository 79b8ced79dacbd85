"""The feature build: run each view's SQL (``sql/<view>.sql``; the taste views share
``sql/user_taste.sql``, one facet each) against the warehouse and write
``<home>/features/<view>.parquet``, keyed by entity id + ``event_timestamp``.

Snapshots are stamped 00:00 UTC of each day D from the day after the first event to the day
after the last one, and describe only facts with ``ts < D``. Each file is written beside its
target and moved into place when complete. A view is rebuilt only when its SQL or the warehouse
changed since its last build (a manifest records both), so a second build is nearly free.
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
# item's peers (its subcategory, else its category) that day (pp)
EVENTS_SQL = "events e JOIN items i USING (item_id)"
EVENTS_WITH_PEERS_SQL = f"""{EVENTS_SQL}
    LEFT JOIN (SELECT coalesce(i.subcategory, i.category, '') AS peers, p.day, median(p.price) AS median_price
               FROM prices p JOIN items i USING (item_id) GROUP BY ALL) pp
      ON pp.peers = coalesce(i.subcategory, i.category, '') AND pp.day = CAST(e.ts AS DATE)"""
# taste view -> its facet's value for an event, and the events it is read from
PRICE_BAND_SQL = ("CASE WHEN pp.median_price IS NULL THEN NULL WHEN e.price < 0.8 * pp.median_price THEN '{0}' "
                  "WHEN e.price > 1.25 * pp.median_price THEN '{2}' ELSE '{1}' END").format(*names.PRICE_BANDS)
TASTE_FACETS = {names.USER_TASTE: ("i.category", EVENTS_SQL), names.USER_BRAND_TASTE: ("i.brand", EVENTS_SQL),
                names.USER_PRICE_TASTE: (PRICE_BAND_SQL, EVENTS_WITH_PEERS_SQL)}

CALENDAR_SQL = """
CREATE TEMP TABLE snapshot_days AS
SELECT CAST(unnest(generate_series(CAST(min(ts) AS DATE) + 1, CAST(max(ts) AS DATE) + 1, INTERVAL 1 DAY)) AS DATE) AS day
FROM events;
CREATE TEMP TABLE user_snapshots AS
SELECT u.user_id, s.day FROM users u JOIN snapshot_days s ON u.signup_ts < s.day;
"""
# until `shopml index build` and `shopml train user_embedding` write them, the embedding tables
# exist empty, so Feast can read them
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


def _connect(warehouse: Path) -> duckdb.DuckDBPyConnection:
    if not warehouse.is_file():
        raise FileNotFoundError(f"no warehouse at {warehouse}: run `shopml simulate` or `shopml ingest` first")
    con = limit_memory(duckdb.connect())
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET preserve_insertion_order = false")       # row order of a feature file is free
    con.execute(f"SET temp_directory = '{warehouse.parent / '.duckdb_spill'}'")
    con.execute(f"ATTACH '{warehouse}' AS wh (READ_ONLY)")
    con.execute("USE wh")
    con.execute(CALENDAR_SQL)
    return con


def _write_parquet(con: duckdb.DuckDBPyConnection, query: str, target: Path) -> int:
    staging = target.with_name(f".{target.name}.{os.getpid()}.building")
    try:
        con.execute(f"COPY ({query}) TO '{staging}' (FORMAT parquet, COMPRESSION zstd)")
        rows = con.execute(f"SELECT count(*) FROM read_parquet('{staging}')").fetchall()[0][0]
        os.replace(staging, target)
        return rows
    finally:
        staging.unlink(missing_ok=True)


def _check_columns(con: duckdb.DuckDBPyConnection, view: str, query: str) -> None:
    produced = [row[0] for row in con.execute(f"DESCRIBE {query}").fetchall()]
    if produced != expected_columns(view):
        raise FeatureBuildError(f"sql/{view}.sql produces {produced}, but {view} declares {expected_columns(view)}")


def build_features(settings: Settings, views: Iterable[str] | None = None, force: bool = False,
                   on_view: Callable[[ViewBuild], None] | None = None) -> list[ViewBuild]:
    """Build the requested views (default: all) and return what was built or skipped."""
    chosen = list(views) if views is not None else list(names.BATCH_VIEWS)
    unknown = sorted(set(chosen) - set(names.BATCH_VIEWS))
    if unknown:
        raise ValueError(f"unknown feature views {unknown}; known: {list(names.BATCH_VIEWS)}")
    out_dir = settings.features_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    results = []
    with _connect(settings.warehouse_path) as con:
        for view in chosen:
            target = out_dir / f"{view}.parquet"
            fingerprint = _fingerprint(view, settings.warehouse_path)
            started = time.perf_counter()
            if not force and target.is_file() and manifest.get(view, {}).get("fingerprint") == fingerprint:
                result = ViewBuild(view, manifest[view]["rows"], 0.0, skipped=True)
            else:
                query = view_sql(view).strip().rstrip(";")
                _check_columns(con, view, query)
                rows = _write_parquet(con, query, target)
                result = ViewBuild(view, rows, time.perf_counter() - started, skipped=False)
                manifest[view] = {"fingerprint": fingerprint, "rows": rows}
                manifest_path.write_text(json.dumps(manifest, indent=2))
            results.append(result)
            if on_view is not None:
                on_view(result)
        for view, empty in ((names.ITEM_EMBEDDING, EMBEDDING_SCHEMA.format(key=names.ITEM_ID)),
                            (names.USER_EMBEDDING, EMBEDDING_SCHEMA.format(key=names.USER_ID)),
                            (names.USER_SEGMENT, SEGMENT_SCHEMA), (names.ITEM_FORECAST, FORECAST_SCHEMA),
                            (names.ITEM_REVIEW_SENTIMENT, REVIEW_SCHEMA)):
            if not (out_dir / f"{view}.parquet").is_file():
                _write_parquet(con, empty, out_dir / f"{view}.parquet")
    return results
