"""Online reads through a feature service: latency percentiles for 1 entity and for 100 entities
per request, from the SQLite online store, next to an in-process read of the same values from
the offline parquet (the floor any store pays), as ratios.

Needs a materialised home (``make demo`` makes ./data):

    python -m bench.online_reads [--home data] [--requests 300]
"""

from __future__ import annotations

import argparse
import time

import duckdb
import numpy as np
import polars as pl

from bench.measure import write_results
from feature_repo.definitions import names
from feature_repo.store import newest_snapshot, open_store
from shopml.settings import Settings
from training.datasets import point_in_time_dataset


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=None)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--service", default=names.CHURN_V1)
    args = parser.parse_args()
    settings = Settings.resolve(args.home)
    store = open_store(settings)
    service = store.get_feature_service(args.service)
    newest = newest_snapshot(settings)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        users = np.array([r[0] for r in con.execute("SELECT user_id FROM users WHERE signup_ts < ?", [newest]).fetchall()])
    rng = np.random.default_rng(0)

    def online(batch):
        return store.get_online_features(features=service, entity_rows=[{names.USER_ID: int(u)} for u in batch],
                                         full_feature_names=True).to_dict()

    def offline(batch):
        rows = pl.DataFrame({names.USER_ID: batch, names.EVENT_TIMESTAMP: [newest] * len(batch)})
        return point_in_time_dataset(rows, args.service, store=store, engine="asof")

    sample = online(users[:5])                                     # also warms the registry cache
    if not any(value is not None for column, values in sample.items() if "__" in column for value in values):
        raise SystemExit("the online store returned no feature values: materialise it first")
    report = {"service": args.service, "requests_per_size": args.requests}
    for size in (1, 100):
        batches = [rng.choice(users, size, replace=False) for _ in range(args.requests)]
        online_ms, offline_ms = percentiles(timed(online, batches)), percentiles(timed(offline, batches))
        report[f"{size}_entities"] = {"online_sqlite": online_ms, "offline_asof_parquet": offline_ms,
                                      "online_over_offline_p50": round(online_ms["p50_ms"] / offline_ms["p50_ms"], 3)}
        print(f"{size:>3} entities: online p50 {online_ms['p50_ms']} ms, p99 {online_ms['p99_ms']} ms; "
              f"offline parquet p50 {offline_ms['p50_ms']} ms", flush=True)
    print(f"wrote {write_results('online_reads', report)}")


if __name__ == "__main__":
    main()
