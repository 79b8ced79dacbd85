"""Point-in-time retrieval of N entity rows (default 1,000,000) against user_activity +
user_monetary + item_stats: Feast's ``get_historical_features`` next to a DuckDB ``ASOF JOIN``
doing the same join with the same TTLs (shopml's fast path), as a time ratio, with peak memory.
The two frames are checked to be identical before any figure is written.

Needs a data home with features built and applied (``make demo`` makes ./data):

    python -m bench.pit_retrieval [--home data] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import gc
from datetime import timedelta

import duckdb
import numpy as np
import polars as pl

from bench.measure import measure, write_results
from feature_repo.definitions import names
from feature_repo.store import ViewRequest, newest_snapshot, open_store
from shopml.settings import Settings
from training.datasets import ROW, asof_join

VIEWS = (names.USER_ACTIVITY, names.USER_MONETARY, names.ITEM_STATS)


def entity_rows(settings: Settings, n: int, seed: int = 0) -> pl.DataFrame:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        users = np.array([r[0] for r in con.execute("SELECT user_id FROM users").fetchall()])
        items = np.array([r[0] for r in con.execute("SELECT item_id FROM items").fetchall()])
        first, last = con.execute("SELECT min(ts), max(ts) FROM events").fetchall()[0]
    rng = np.random.default_rng(seed)
    span = (last - first).total_seconds() + 3 * 86400
    as_of = pl.Series(names.EVENT_TIMESTAMP, [first]).dt.convert_time_zone("UTC")[0]
    offsets = pl.Series(rng.uniform(0, span, n) * 1e6).cast(pl.Duration("us"))
    return pl.DataFrame({names.USER_ID: rng.choice(users, n), names.ITEM_ID: rng.choice(items, n)}).with_columns(
        (pl.lit(as_of) + offsets).alias(names.EVENT_TIMESTAMP)).with_row_index(ROW)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    settings = Settings.resolve(args.home)
    store = open_store(settings)
    refs = [f"{view}:{feature}" for view in VIEWS for feature in names.FEATURES[view][1]]
    requests = []
    for view in VIEWS:
        fv = store.get_feature_view(view)
        requests.append(ViewRequest(view, tuple(c.name for c in fv.entity_columns), names.FEATURES[view][1],
                                    fv.ttl or timedelta(0), fv.batch_source.path))
    rows = entity_rows(settings, args.rows)
    print(f"{rows.height:,} entity rows, snapshots up to {newest_snapshot(settings)}", flush=True)

    ours, asof_seconds, asof_peak, asof_growth = measure(asof_join, rows, requests)
    print(f"ASOF JOIN: {asof_seconds:.1f} s, peak {asof_peak:,.0f} MiB (+{asof_growth:,.0f})", flush=True)
    gc.collect()

    def feast():
        job = store.get_historical_features(entity_df=rows.to_pandas(), features=refs, full_feature_names=True)
        return pl.from_pandas(job.to_df())

    theirs, feast_seconds, feast_peak, feast_growth = measure(feast)
    print(f"Feast get_historical_features: {feast_seconds:.1f} s, peak {feast_peak:,.0f} MiB "
          f"(+{feast_growth:,.0f})", flush=True)
    theirs = theirs.sort(ROW).select(ours.columns).with_columns(
        pl.col(names.EVENT_TIMESTAMP).dt.convert_time_zone("UTC"))
    identical = ours.with_columns(pl.col(names.EVENT_TIMESTAMP).dt.convert_time_zone("UTC")).equals(
        theirs, null_equal=True)
    if not identical:
        raise SystemExit("the ASOF frame differs from Feast's: no figures written")
    path = write_results("pit_retrieval", {
        "entity_rows": rows.height, "views": VIEWS, "features": len(refs), "identical_frames": identical,
        "feast": {"seconds": round(feast_seconds, 2), "peak_rss_mib": round(feast_peak),
                  "rss_growth_mib": round(feast_growth)},
        "asof_join": {"seconds": round(asof_seconds, 2), "peak_rss_mib": round(asof_peak),
                      "rss_growth_mib": round(asof_growth)},
        "feast_over_asof_time_ratio": round(feast_seconds / asof_seconds, 2),
        "feast_over_asof_memory_growth_ratio": round(feast_growth / max(asof_growth, 1), 2),
    })
    print(f"Feast / ASOF time ratio {feast_seconds / asof_seconds:.1f}; wrote {path}")


if __name__ == "__main__":
    main()
