"""Feature build time and peak memory: every batch view computed from the warehouse and written
to parquet, for the demo shop and for 1,000,000 users x 90 days, as rows per second, with the
large size's throughput as a ratio of the demo's (1.0 = linear scaling). Each size runs in its
own process so that its peak memory is its own (a Spark JVM counts with it); missing warehouses
are simulated first (kept in a cache folder so re-runs are quick). ``--engine spark`` builds on
Spark ``local[2]`` (results in ``feature_build_spark.json``, beside DuckDB's ``feature_build.json``).
``--views`` builds only those views and ``--label`` names the results ``feature_build[_spark]_<label>``
(a long run measured in parts); ``--demo-users 0`` skips the demo size.

    python -m bench.feature_build [--engine spark] [--large-users 1000000] [--cache /tmp/shopml-bench]
                                  [--views user_taste ...] [--label part2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from bench.measure import add_size_arguments, compare_sizes
from feature_repo.definitions import names
from feature_repo.pipeline import ENGINES
from feature_repo.spark_engine import MASTER_ENV_VAR

CHILD = """
import json, sys
from pathlib import Path
from bench.measure import measure
from feature_repo.pipeline import build_features
from shopml.settings import Settings
from shopml.warehouse.simulator import SimulationConfig, simulate
users, days, home, engine, views = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], sys.argv[5:]
settings = Settings.resolve(home)
if not settings.warehouse_path.is_file():
    simulate(SimulationConfig(users=users, days=days, seed=7), settings.warehouse_path)
def progress(build):
    print(f"  {build.view}: {build.rows:,} rows in {build.seconds:.1f} s", file=sys.stderr, flush=True)
builds, seconds, peak, growth = measure(build_features, settings, views, force=True, engine=engine,
                                       on_view=progress)
print(json.dumps({"seconds": seconds, "peak_rss_mib": peak, "rss_growth_mib": growth,
                  "views": {b.view: {"rows": b.rows, "seconds": round(b.seconds, 2)} for b in builds}}))
"""


def run_size(users: int, days: int, cache: Path, engine: str, views: list[str]) -> dict:
    home = cache / f"shop_{users}x{days}"
    done = subprocess.run([sys.executable, "-c", CHILD, str(users), str(days), str(home), engine, *views],
                          stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1],
                          env={**os.environ, MASTER_ENV_VAR: os.environ.get(MASTER_ENV_VAR, "local[2]")})
    if done.returncode != 0:
        raise SystemExit(f"feature build for {users} x {days} failed (its error is above)")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    rows = sum(v["rows"] for v in result["views"].values())
    return {"users": users, "days": days, "rows": rows, "seconds": round(result["seconds"], 2),
            "rows_per_second": round(rows / result["seconds"]), "peak_rss_mib": round(result["peak_rss_mib"]),
            "views": result["views"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_size_arguments(parser)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/shopml-bench"))
    parser.add_argument("--engine", choices=ENGINES, default="duckdb")
    parser.add_argument("--views", nargs="+", choices=names.BATCH_VIEWS, default=list(names.BATCH_VIEWS), metavar="VIEW")
    parser.add_argument("--label", default=None, help="results named feature_build[_spark]_<label>")
    args = parser.parse_args()
    name = "feature_build" if args.engine == "duckdb" else f"feature_build_{args.engine}"
    name = f"{name}_{args.label}" if args.label else name
    compare_sizes(name, args, lambda users, days: run_size(users, days, args.cache, args.engine, args.views),
                  f"building features ({args.engine}) for")


if __name__ == "__main__":
    main()
