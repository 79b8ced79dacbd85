"""Benchmark of the simulated shop: rows written per second and peak memory, per size.

Each size runs in a fresh subprocess (so its peak resident memory is its own) and writes a real
warehouse to a temporary folder. Reported side by side: the demo size and a large size
(default 1,000,000 users x 90 days), with the large run's throughput as a ratio of the demo's
(1.0 = perfectly linear scaling). Results go to bench/results/simulate.json.

    python -m bench.simulate                       # demo size and 1,000,000 x 90
    python -m bench.simulate --large-users 200000  # a smaller large size
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.measure import add_size_arguments, compare_sizes

CHILD = """
import json, sys, time
from pathlib import Path
from shopml.warehouse.simulator import SimulationConfig, simulate
users, days, path = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
started = time.perf_counter()
counts = simulate(SimulationConfig(users=users, days=days, seed=7), path,
                  on_day=lambda d, n: print(f"  day {d}/{n} {time.perf_counter() - started:.0f}s",
                                            file=sys.stderr, flush=True) if d % 10 == 0 else None)
print(json.dumps({"seconds": time.perf_counter() - started, "counts": counts}))
"""


def run_size(users: int, days: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="shopml-bench-") as folder:
        path = Path(folder) / "warehouse.duckdb"
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", CHILD, str(users), str(days), str(path)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"simulate {users} x {days} failed:\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        rows = sum(result["counts"].values())
        return {
            "users": users, "days": days, "rows": rows,
            "events": result["counts"]["events"],
            "seconds": round(result["seconds"], 2),
            "wall_seconds": round(time.perf_counter() - started, 2),
            "rows_per_second": round(rows / result["seconds"]),
            "peak_rss_mib": round(max(peak_kib, before) / 1024),
            "warehouse_mib": round(path.stat().st_size / 2**20),
            "row_counts": result["counts"],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_size_arguments(parser)
    args = parser.parse_args()
    compare_sizes("simulate", args, run_size, "simulating")


if __name__ == "__main__":
    main()
