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


def write_results(name: str, report: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    report = {"benchmark": name, "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, **report}
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path
