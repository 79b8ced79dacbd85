"""Online reads through a feature service: latency percentiles for 1 entity and for 100 entities
per request, by Feast's ``get_online_features`` and by shopml's reader
(``feature_repo.online_read``, the services' path), from the home's SQLite online store and, where
the servers answer on 127.0.0.1, from Redis loaded by the bulk loader (the production file: a
PostgreSQL registry, Redis database 14, both removed after). In process, after a warm-up.

Needs a materialised home (``make demo`` makes ./data):

    python -m bench.online_reads [--home data] [--requests 300]
"""

from __future__ import annotations

import argparse
import time

import duckdb
import numpy as np

from bench.measure import write_results
from feature_repo.definitions import names
from feature_repo.online_read import OnlineReader
from feature_repo.store import materialize, newest_snapshot, open_store, reachable, view_requests
from shopml.settings import Settings


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    values = np.array(samples_ms)
    return {"p50_ms": round(float(np.percentile(values, 50)), 3), "p99_ms": round(float(np.percentile(values, 99)), 3),
            "mean_ms": round(float(values.mean()), 3)}


def timed(call, batches) -> list[float]:
    samples = []
    for batch in batches:
        started = time.perf_counter()
        call(batch)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def measure(settings: Settings, service_name: str, users: np.ndarray, requests: int) -> dict:
    store = open_store(settings)
    refs = [ref for read in view_requests(store, service_name) if not read.on_demand for ref in read.refs]
    reader = OnlineReader(store)
    rng = np.random.default_rng(0)

    def feast(batch):
        return store.get_online_features(features=refs, entity_rows={names.USER_ID: [int(u) for u in batch]},
                                         full_feature_names=True).to_dict(include_event_timestamps=True)

    def ours(batch):
        return reader.read(refs, {names.USER_ID: [int(u) for u in batch]})

    sample = feast(users[:5])                                     # also warms the registry cache
    if not any(value is not None for column, values in sample.items() if "__" in column for value in values):
        raise SystemExit("the online store returned no feature values: materialise it first")
    report = {}
    for size in (1, 100):
        batches = [rng.choice(users, size, replace=False) for _ in range(requests)]
        for batch in batches[:20]:                                # warm-up: page cache, connections
            ours(batch), feast(batch)
        report[f"{size}_entities"] = {"feast": percentiles(timed(feast, batches)),
                                      "shopml_reader": percentiles(timed(ours, batches))}
        report[f"{size}_entities"]["p99_ratio"] = round(report[f"{size}_entities"]["shopml_reader"]["p99_ms"]
                                                        / report[f"{size}_entities"]["feast"]["p99_ms"], 3)
    return report


def main() -> None:
    from bench.materialize import POSTGRES, REDIS, redis_home

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=None)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--service", default=names.CHURN_V1)
    args = parser.parse_args()
    settings = Settings.resolve(args.home)
    newest = newest_snapshot(settings)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        users = np.array([r[0] for r in con.execute("SELECT user_id FROM users WHERE signup_ts < ?", [newest]).fetchall()])
    report = {"service": args.service, "requests_per_size": args.requests,
              "sqlite": measure(settings, args.service, users, args.requests)}
    print(f"sqlite: {report['sqlite']}", flush=True)
    if reachable(POSTGRES) and reachable(REDIS):
        with redis_home(settings):
            materialize(settings)
            report["redis"] = measure(settings, args.service, users, args.requests)
        print(f"redis: {report['redis']}", flush=True)
    print(f"wrote {write_results('online_reads', report)}")


if __name__ == "__main__":
    main()
