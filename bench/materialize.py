"""Materialisation into the online store, stock Feast: entity rows per second for
`shopml features materialize` (Feast's `materialize` over each view's TTL window) into the home's
SQLite online store and into Redis with a PostgreSQL registry (the production file), and into Redis
with Feast's `skip_dedup` (one pipeline, no read of the stored timestamps first). An entity row is
one entity of one view written (the newest snapshot in its window). Needs a built home (`make
demo`) and, for Redis, the servers on 127.0.0.1 (skipped otherwise); the Redis runs use database
14 and a registry schema of their own, both removed after.

    python -m bench.materialize [--home data]
"""

from __future__ import annotations

import argparse
import os
import shutil
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


def entity_rows(settings: Settings, materialization) -> int:
    """How many (view, entity) rows a materialisation writes: the distinct entities of each view
    with a snapshot in the window it reads."""
    store = feature_store.open_store(settings)
    total = 0
    with duckdb.connect() as con:
        for name in (*names.MATERIALIZED_VIEWS, *names.WRITTEN_VIEWS):
            view = store.get_feature_view(name)
            start = feature_store.window_start(view, materialization.end)
            keys = ", ".join(c.name for c in view.entity_columns)
            total += con.execute(f"""SELECT count(*) FROM (SELECT DISTINCT {keys} FROM read_parquet(?)
                                     WHERE {names.EVENT_TIMESTAMP} BETWEEN ? AND ?)""",
                                 [view.batch_source.path, start, materialization.end]).fetchone()[0]
    return total


@contextmanager
def redis_home(settings: Settings, skip_dedup: bool):
    """A copy of the home's configuration pointed at the production file: a fresh registry schema
    in PostgreSQL, Redis database REDIS_DB (flushed before and after)."""
    import psycopg2
    import redis

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    yaml = Path(tempfile.mkdtemp()) / "feature_store.yaml"
    text = (project_root() / "infra" / "feature_store.production.yaml").read_text()
    yaml.write_text(text.replace("  type: redis\n", f"  type: redis\n  skip_dedup: {str(skip_dedup).lower()}\n"))
    saved = {k: os.environ.get(k) for k in (feature_store.YAML_ENV_VAR, "SHOPML_REGISTRY_URL", "SHOPML_REDIS")}
    os.environ.update({feature_store.YAML_ENV_VAR: str(yaml), "SHOPML_REDIS": f"{REDIS[0]}:{REDIS[1]},db={REDIS_DB}",
                       "SHOPML_REGISTRY_URL": f"postgresql+psycopg2://postgres@{POSTGRES[0]}:{POSTGRES[1]}/test"
                                              f"?options=-csearch_path%3D{schema}"})
    client = redis.Redis(host=REDIS[0], port=REDIS[1], db=REDIS_DB)
    client.flushdb()
    with psycopg2.connect(host=POSTGRES[0], port=POSTGRES[1], user="postgres", dbname="test") as pg:
        pg.autocommit = True
        pg.cursor().execute(f"CREATE SCHEMA {schema}")
    try:
        feature_store.apply(settings)
        yield
    finally:
        client.flushdb()
        with psycopg2.connect(host=POSTGRES[0], port=POSTGRES[1], user="postgres", dbname="test") as pg:
            pg.autocommit = True
            pg.cursor().execute(f"DROP SCHEMA {schema} CASCADE")
        shutil.rmtree(yaml.parent)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def timed(settings: Settings) -> dict:
    started = time.perf_counter()
    done = feature_store.materialize(settings)
    seconds = time.perf_counter() - started
    rows = entity_rows(settings, done)
    return {"entity_rows": rows, "seconds": round(seconds, 1), "rows_per_second": round(rows / seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=None)
    args = parser.parse_args()
    settings = Settings.resolve(args.home)
    runs = {"sqlite": timed(settings)}
    print(f"sqlite: {runs['sqlite']}", flush=True)
    if feature_store.reachable(POSTGRES) and feature_store.reachable(REDIS):
        for skip_dedup in (False, True):
            with redis_home(settings, skip_dedup):
                name = "redis" + (" (skip_dedup)" if skip_dedup else "")
                runs[name] = timed(settings)
                print(f"{name}: {runs[name]}", flush=True)
    print(f"wrote {write_results('materialize', {'runs': runs})}")


if __name__ == "__main__":
    main()
