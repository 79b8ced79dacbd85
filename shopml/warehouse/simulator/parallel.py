"""Independent runs of the simulator (Monte Carlo futures, what-if arms) side by side, one process
per core. The simulator is NumPy on one thread, so on a 2-core machine a second process halves
the wall time of a batch of futures. Workers are spawned, not forked: a forked child inherits
thread pools it cannot use (Polars' deadlocks in it), so each run's arguments travel to a fresh
interpreter, pickled, and its (small) result comes back. Every run keeps its own random stream,
so the results are the same, in the same order, as running them one after the other."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

WORKERS_VARIABLE = "SHOPML_SIMULATION_WORKERS"     # processes at most (default: the cores; 1: run in this process)


def workers() -> int:
    return max(1, int(os.environ.get(WORKERS_VARIABLE, os.cpu_count() or 1)))


def run_all(function: Callable[..., Any], arguments: Sequence[tuple]) -> list[Any]:
    """``[function(*a) for a in arguments]`` (``function`` defined at a module's top level), spread
    over ``workers()`` processes."""
    processes = min(workers(), len(arguments))
    if processes <= 1:
        return [function(*a) for a in arguments]
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(function, *zip(*arguments)))
