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


def measure(fn, *args, **kwargs):
    """Run ``fn``; return (its result, seconds, peak resident MiB during it, growth of the resident
    set over what it was before the call, MiB)."""
    process = psutil.Process()
    peak = baseline = process.memory_info().rss
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        result = fn(*args, **kwargs)
    finally:
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    peak = max(peak, process.memory_info().rss)
    return result, seconds, peak / 2**20, (peak - baseline) / 2**20


def add_size_arguments(parser) -> None:
    """--demo-users/--demo-days and --large-users/--large-days, defaulting to the demo shop and
    1,000,000 users x 90 days."""
    parser.add_argument("--demo-users", type=int, default=20_000)
    parser.add_argument("--demo-days", type=int, default=120)
    parser.add_argument("--large-users", type=int, default=1_000_000)
    parser.add_argument("--large-days", type=int, default=90)


def sizes(args) -> tuple[tuple[int, int], tuple[int, int]]:
    return (args.demo_users, args.demo_days), (args.large_users, args.large_days)


def throughput_ratio(runs: list[dict]) -> float:
    """Rows per second of the large run over the demo run's (1.0 = linear scaling)."""
    return round(runs[1]["rows_per_second"] / runs[0]["rows_per_second"], 3)


def write_results(name: str, report: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    report = {"benchmark": name, "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, **report}
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path
