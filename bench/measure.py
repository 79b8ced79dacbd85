"""Shared by the benchmarks: wall time and peak resident memory of a call, and the results file."""

from __future__ import annotations

import json
import os
import platform
import threading
import time
from pathlib import Path

import psutil

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def resident_bytes(process: psutil.Process) -> int:
    """The resident set of ``process`` and every process it started (a Spark JVM, a worker pool)."""
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def measure(fn, *args, **kwargs):
    """Run ``fn``; return (its result, seconds, peak resident MiB during it, growth of the resident
    set over what it was before the call, MiB). Processes it starts count with it."""
    process = psutil.Process()
    peak = baseline = resident_bytes(process)
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, resident_bytes(process))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        result = fn(*args, **kwargs)
    finally:
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    peak = max(peak, resident_bytes(process))
    return result, seconds, peak / 2**20, (peak - baseline) / 2**20


def add_size_arguments(parser) -> None:
    """--demo-users/--demo-days and --large-users/--large-days, defaulting to the demo shop and
    1,000,000 users x 90 days."""
    from shopml.warehouse.simulator import SimulationConfig

    parser.add_argument("--demo-users", type=int, default=20_000, help="0: the large size only")
    parser.add_argument("--demo-days", type=int, default=SimulationConfig.days)
    parser.add_argument("--large-users", type=int, default=1_000_000, help="0: the demo size only")
    parser.add_argument("--large-days", type=int, default=90)


def compare_sizes(name: str, args, run_size, doing: str) -> Path:
    """Run ``run_size(users, days)`` (a dict with rows, seconds, rows_per_second, peak_rss_mib)
    at the demo and the large size (a size of 0 users is left out), print each, and write both with
    the large/demo throughput ratio (1.0 = linear scaling) to the results file ``name``."""
    runs = []
    sizes = [(users, days) for users, days in ((args.demo_users, args.demo_days), (args.large_users, args.large_days))
             if users]
    for users, days in sizes:
        print(f"{doing} {users:,} users x {days} days ...", flush=True)
        run = run_size(users, days)
        runs.append(run)
        print(f"  {run['rows']:,} rows in {run['seconds']} s = {run['rows_per_second']:,} rows/s, "
              f"peak {run['peak_rss_mib']:,} MiB", flush=True)
    ratio = round(runs[1]["rows_per_second"] / runs[0]["rows_per_second"], 3) if len(runs) > 1 else None
    path = write_results(name, {"runs": runs, "large_vs_demo_throughput_ratio": ratio})
    print(f"large/demo throughput ratio {ratio}; wrote {path}")
    return path


def write_results(name: str, report: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    report = {"benchmark": name, "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, **report}
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path
