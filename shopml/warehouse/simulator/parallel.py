"""Independent runs of the simulator (Monte Carlo futures, what-if arms) side by side, one process
per core. The simulator is NumPy on one thread, so on a 2-core machine a second process halves
the wall time of a batch of futures. Workers are spawned, not forked: a forked child inherits
thread pools it cannot use (Polars' deadlocks in it).

The workers are started once per process and kept for its later batches: starting one (a new
interpreter importing the simulator) takes seconds, and ``shopml train all`` runs about ten
batches (its oracles and what-if shops). What a batch's runs share (the world) is pickled once
and goes with each run as bytes; a worker unpickles it once per batch. Every run keeps its own
random stream, so the results are the same, in the same order, as running them one after the
other."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import pickle
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

WORKERS_VARIABLE = "SHOPML_SIMULATION_WORKERS"     # processes at most (default: the cores; 1: run in this process)
_batches = itertools.count()
_pool: ProcessPoolExecutor | None = None
_pool_size = 0
_common: tuple[int, tuple] = (-1, ())               # in a worker: (batch, the arguments its runs share)


def workers() -> int:
    return max(1, int(os.environ.get(WORKERS_VARIABLE, os.cpu_count() or 1)))


def _run(batch: int, shared: bytes, function: Callable[..., Any], arguments: tuple) -> Any:
    global _common
    if _common[0] != batch:
        _common = (batch, pickle.loads(shared))
    return function(*_common[1], *arguments)


def _started_pool(processes: int) -> ProcessPoolExecutor:
    """The kept pool, started anew where it is missing, smaller than asked or broken (a worker
    killed: the batch that saw it raised ``BrokenProcessPool``)."""
    global _pool, _pool_size
    if _pool is None or _pool_size < processes or getattr(_pool, "_broken", False):
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
        _pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))
        _pool_size = processes
    return _pool


def run_all(function: Callable[..., Any], arguments: Sequence[tuple], common: tuple = ()) -> list[Any]:
    """``[function(*common, *a) for a in arguments]`` (``function`` defined at a module's top
    level), spread over ``workers()`` processes."""
    processes = min(workers(), len(arguments))
    if processes <= 1:
        return [function(*common, *a) for a in arguments]
    batch, shared = next(_batches), pickle.dumps(common, protocol=pickle.HIGHEST_PROTOCOL)
    return list(_started_pool(processes).map(_run, itertools.repeat(batch), itertools.repeat(shared),
                                             itertools.repeat(function), arguments))
