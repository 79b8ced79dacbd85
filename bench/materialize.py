"""Materialisation into the online store: entity rows per second for `shopml features
materialize` (each view's newest rows in its TTL window), by the bulk loader
(feature_repo.online_load) beside stock Feast's `materialize`, into an empty copy of the home's
SQLite online store and into Redis with a PostgreSQL registry (the production file), where stock
also runs with Feast's `skip_dedup` (one pipeline, no read of the stored timestamps first). An
entity row is one entity of one view written. Needs a built home (`make demo`) and, for Redis, the
servers on 127.0.0.1 (skipped otherwise); the Redis runs use database 14 and a registry schema of
their own, both removed after; the SQLite runs a copy in a temporary folder. ``--views`` loads
only those views (for a large home, where stock Feast would take an hour over every view);
``--label`` keeps the figures of another home beside the demo's (``materialize_<label>.json``).

    python -m bench.materialize [--home data] [--views user_activity ...] [--label 1m]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import duckdb

from bench.measure import write_results
from feature_repo import store as feature_store
from feature_repo.definitions import names
from shopml.settings import Settings, project_root

POSTGRES, REDIS, REDIS_DB = ("127.0.0.1", 5432), ("127.0.0.1", 6379), 14


def entity_rows(settings: Settings, materialization, views: list[str]) -> int:
    """How many (view, entity) rows a materialisation of ``views`` writes: the distinct entities of
    each view with a snapshot in the window it reads."""
    store = feature_store.open_store(settings)
    total = 0
    with duckdb.connect() as con:
        for name in views:
            view = store.get_feature_view(name)
            start = feature_store.window_start(view, materialization.end)
            keys = ", ".join(c.name for c in view.entity_columns)
            total += con.execute(f"""SELECT count(*) FROM (SELECT DISTINCT {keys} FROM read_parquet(?)
                                     WHERE {names.EVENT_TIMESTAMP} BETWEEN ? AND ?)""",
                                 [view.batch_source.path, start, materialization.end]).fetchone()[0]
    return total


@contextmanager
def store_file(text: str):
    """Point the feature store at a feature_store.yaml of this text (for the block's duration)."""
    folder = Path(tempfile.mkdtemp())
    saved = os.environ.get(feature_store.YAML_ENV_VAR)
    (folder / "feature_store.yaml").write_text(text)
    os.environ[feature_store.YAML_ENV_VAR] = str(folder / "feature_store.yaml")
    try:
        yield folder
    finally:
        shutil.rmtree(folder)
        if saved is None:
            os.environ.pop(feature_store.YAML_ENV_VAR, None)
        else:
            os.environ[feature_store.YAML_ENV_VAR] = saved


@contextmanager
def sqlite_home(settings: Settings):
    """The home's registry and online store copied to a temporary folder, the store emptied."""
    with store_file("") as folder:
        shutil.copy(settings.home / "feast" / "registry.db", folder / "registry.db")
        shutil.copy(settings.home / "feast" / "online.db", folder / "online.db")
        with sqlite3.connect(folder / "online.db") as con:
            for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
                con.execute(f'DELETE FROM "{table}"')
        (folder / "feature_store.yaml").write_text(feature_store.LOCAL_YAML.read_text().replace(
            "${SHOPML_HOME}/feast/", f"{folder}/"))
        yield


@contextmanager
def redis_home(settings: Settings, skip_dedup: bool = False):
    """The production file with a fresh registry schema in PostgreSQL and Redis database
    REDIS_DB (flushed before and after)."""
    import psycopg2
    import redis

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    text = (project_root() / "infra" / "feature_store.production.yaml").read_text()
    saved = {k: os.environ.get(k) for k in ("SHOPML_REGISTRY_URL", "SHOPML_REDIS")}
    os.environ.update({"SHOPML_REDIS": f"{REDIS[0]}:{REDIS[1]},db={REDIS_DB}",
                       "SHOPML_REGISTRY_URL": f"postgresql+psycopg2://postgres@{POSTGRES[0]}:{POSTGRES[1]}/test"
                                              f"?options=-csearch_path%3D{schema}"})
    client = redis.Redis(host=REDIS[0], port=REDIS[1], db=REDIS_DB)
    client.flushdb()
    with psycopg2.connect(host=POSTGRES[0], port=POSTGRES[1], user="postgres", dbname="test") as pg:
        pg.autocommit = True
        pg.cursor().execute(f"CREATE SCHEMA {schema}")
    try:
        with store_file(text.replace("  type: redis\n", f"  type: redis\n  skip_dedup: {str(skip_dedup).lower()}\n")):
            feature_store.apply(settings)
            yield
    finally:
        client.flushdb()
        with psycopg2.connect(host=POSTGRES[0], port=POSTGRES[1], user="postgres", dbname="test") as pg:
            pg.autocommit = True
            pg.cursor().execute(f"DROP SCHEMA {schema} CASCADE")
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def describe(settings: Settings) -> dict:
    """The home's size: its users and simulated days."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        users, days = con.execute("SELECT (SELECT count(*) FROM users), "
                                  "(SELECT date_diff('day', min(ts), max(ts)) + 1 FROM events)").fetchone()
    return {"users": users, "days": days}


def timed(settings: Settings, stock: bool, views: list[str]) -> dict:
    import feast.feature_store  # noqa: F401 - imported before the clock starts: Feast's
    import feature_repo.online_load  # noqa: F401   typeguard-instrumented imports take seconds

    started = time.perf_counter()
    done = feature_store.materialize(settings, stock=stock, views=views)
    seconds = time.perf_counter() - started
    rows = entity_rows(settings, done, views)
    return {"entity_rows": rows, "seconds": round(seconds, 1), "rows_per_second": round(rows / seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=None)
    parser.add_argument("--views", nargs="+", default=list(names.ONLINE_VIEWS))
    parser.add_argument("--label", default=None, help="write materialize_<label>.json (default: materialize.json)")
    parser.add_argument("--no-skip-dedup", action="store_true", help="leave out stock Feast with skip_dedup")
    args = parser.parse_args()
    settings = Settings.resolve(args.home)
    runs = {}
    stores = [("sqlite", lambda: sqlite_home(settings))]
    if feature_store.reachable(POSTGRES) and feature_store.reachable(REDIS):
        stores.append(("redis", lambda: redis_home(settings)))
    for store, home in stores:
        for stock in (False, True):
            with home():
                name = f"{store} {'stock' if stock else 'bulk'}"
                runs[name] = timed(settings, stock, args.views)
                print(f"{name}: {runs[name]}", flush=True)
    if len(stores) > 1 and not args.no_skip_dedup:
        with redis_home(settings, skip_dedup=True):
            runs["redis stock (skip_dedup)"] = timed(settings, True, args.views)
            print(f"redis stock (skip_dedup): {runs['redis stock (skip_dedup)']}", flush=True)
    name = f"materialize_{args.label}" if args.label else "materialize"
    print(f"wrote {write_results(name, {'home': describe(settings), 'views': args.views, 'runs': runs})}")


if __name__ == "__main__":
    main()
