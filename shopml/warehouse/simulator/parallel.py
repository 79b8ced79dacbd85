"""Independent runs of the simulator (Monte Carlo futures, what-if arms) side by side, one process
per core. The simulator is NumPy on one thread, so on a 2-core machine a second process halves
the wall time of a batch of futures. Workers are spawned, not forked: a forked child inherits
thread pools it cannot use (Polars' deadlocks in it). What every run shares (the world) travels to
each worker once, pickled, when it starts; each run then sends only its own arguments and gets
back its (small) result. Every run keeps its own random stream, so the results are the same, in
the same order, as running them one after the other."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

WORKERS_VARIABLE = "SHOPML_SIMULATION_WORKERS"     # processes at most (default: the cores; 1: run in this process)
_common: tuple = ()                                 # in a worker: the arguments every run shares


def workers() -> int:
    return max(1, int(os.environ.get(WORKERS_VARIABLE, os.cpu_count() or 1)))


def _receive(common: tuple) -> None:
    global _common
    _common = common


def _run(function: Callable[..., Any], arguments: tuple) -> Any:
    return function(*_common, *arguments)


def run_all(function: Callable[..., Any], arguments: Sequence[tuple], common: tuple = ()) -> list[Any]:
    """``[function(*common, *a) for a in arguments]`` (``function`` defined at a module's top
    level), spread over ``workers()`` processes."""
    processes = min(workers(), len(arguments))
    if processes <= 1:
        return [function(*common, *a) for a in arguments]
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"), initializer=_receive,
                             initargs=(common,)) as pool:
        return list(pool.map(_run, [function] * len(arguments), arguments))
