"""Point-in-time retrieval of N entity rows (default 1,000,000) against user_activity +
user_monetary + item_stats, three ways, with time and peak memory:

- ``shopml``: Feast's ``get_historical_features`` with shopml's offline store (the one
  ``feature_store.yaml`` names: ``feature_repo/asof_store.py``), entity rows in as pandas and the
  frame out as Polars, as training calls it;
- ``stock``: the same call with Feast's own DuckDB offline store;
- ``raw``: the plain DuckDB ``ASOF JOIN`` with the same TTLs over the same files, Arrow in and out
  (the floor: no Feast at all).

The three frames are checked to be identical (ordered by entity row) before any figure is written.
Needs a data home with features built and applied (``make demo`` makes ./data):

    python -m bench.pit_retrieval [--home data] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from bench.measure import measure, write_results
from feature_repo import store as feature_store
from feature_repo.asof_store import ROW as ASOF_ROW
from feature_repo.asof_store import asof_query, view_read
from feature_repo.definitions import names
from shopml.settings import Settings

VIEWS = (names.USER_ACTIVITY, names.USER_MONETARY, names.ITEM_STATS)
ROW = "__row"


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


def stock_store(settings: Settings, folder: Path):
    """The home's store with Feast's own DuckDB offline store in place of shopml's."""
    yaml = folder / "feature_store.yaml"
    yaml.write_text(feature_store.LOCAL_YAML.read_text().replace(
        "type: feature_repo.asof_store.AsofOfflineStore", "type: duckdb"))
    saved = os.environ.get(feature_store.YAML_ENV_VAR)
    os.environ[feature_store.YAML_ENV_VAR] = str(yaml)
    try:
        return feature_store.open_store(settings)
    finally:
        if saved is None:
            os.environ.pop(feature_store.YAML_ENV_VAR, None)
        else:
            os.environ[feature_store.YAML_ENV_VAR] = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    settings = Settings.resolve(args.home)
    ours = feature_store.open_store(settings)
    assert type(ours._get_provider().offline_store).__name__ == "AsofOfflineStore", "feature_store.yaml changed?"
    refs = [f"{view}:{feature}" for view in VIEWS for feature in names.FEATURES[view][1]]
    reads = [view_read(ours.get_feature_view(view), refs, True, str(feature_store.REPO_DIR)) for view in VIEWS]
    rows = entity_rows(settings, args.rows)
    print(f"{rows.height:,} entity rows, snapshots up to {feature_store.newest_snapshot(settings)}", flush=True)

    def raw() -> pl.DataFrame:
        table = rows.to_arrow().append_column(ASOF_ROW, rows[ROW].to_arrow())
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            con.register("entity_rows", table)
            return pl.from_arrow(con.sql(asof_query(rows.columns, names.EVENT_TIMESTAMP, reads)).to_arrow_table())

    def through_feast(store) -> pl.DataFrame:
        job = store.get_historical_features(entity_df=rows.to_pandas(), features=refs, full_feature_names=True)
        return pl.from_arrow(job.to_arrow()).sort(ROW)

    figures, frames = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        for way, run in (("raw", raw), ("shopml", lambda: through_feast(ours)),
                         ("stock", lambda: through_feast(stock_store(settings, Path(folder))))):
            gc.collect()
            frames[way], seconds, peak, growth = measure(run)
            figures[way] = {"seconds": round(seconds, 2), "peak_rss_mib": round(peak), "rss_growth_mib": round(growth)}
            print(f"{way}: {seconds:.2f} s, peak {peak:,.0f} MiB (+{growth:,.0f})", flush=True)
    utc = pl.col(names.EVENT_TIMESTAMP).dt.convert_time_zone("UTC")
    reference = frames["raw"].with_columns(utc)
    identical = all(frame.select(reference.columns).with_columns(utc).equals(reference, null_equal=True)
                    for frame in frames.values())
    if not identical:
        raise SystemExit("the frames differ: no figures written")
    shopml, stock, floor = (figures[way]["seconds"] for way in ("shopml", "stock", "raw"))
    path = write_results("pit_retrieval", {
        "entity_rows": rows.height, "views": VIEWS, "features": len(refs), "identical_frames": identical,
        **figures, "shopml_over_raw_time_ratio": round(shopml / floor, 2),
        "stock_over_raw_time_ratio": round(stock / floor, 2), "stock_over_shopml_time_ratio": round(stock / shopml, 2),
    })
    print(f"shopml / raw {shopml / floor:.2f}, stock / raw {stock / floor:.2f}; wrote {path}")


if __name__ == "__main__":
    main()
