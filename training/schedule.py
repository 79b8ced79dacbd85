"""Training several tasks side by side: ``shopml train all --jobs N``.

Each task runs in a spawned process of its own whose LightGBM and PyTorch fits use the machine's
cores shared out (``SHOPML_TRAINING_THREADS`` = cores // jobs, at least 1: the busy-waiting OpenMP
threads of fits side by side would otherwise fight over the cores). On the 2-core machines two at
a time was slower than one after the other (docs/training.md), so ``--jobs`` defaults to 1 and is
for machines with cores to spare. A task starts once the tasks it ``needs`` (their saved models
are its inputs) have finished; the first failure stops new starts and is raised once the running
tasks end. Processes are spawned, not forked: Polars' thread pool deadlocks in a forked child
(docs/pitfalls.md).
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from functools import partial
from multiprocessing import get_context
from typing import Any, Callable

THREADS_VARIABLE = "SHOPML_TRAINING_THREADS"     # threads of one model fit (LightGBM, PyTorch)
DEFAULT_THREADS = 2


def training_threads() -> int:
    return max(1, int(os.environ.get(THREADS_VARIABLE, DEFAULT_THREADS)))


def _worker_setup(threads: int) -> None:
    """The fits' threads; stdout to /dev/null (the parent prints each result; DuckDB draws
    progress bars there for queries slowed by the runs beside them), logs still on stderr."""
    os.environ[THREADS_VARIABLE] = os.environ["OMP_NUM_THREADS"] = str(threads)
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    os.close(quiet)


def side_by_side(work: Callable[[str, Any], Any], inputs: dict[str, Any], needs: dict[str, tuple[str, ...]],
                 jobs: int, on_start: Callable[[str], None], on_done: Callable[[str, Any], None]) -> None:
    """``work(name, inputs[name])`` for every name (a picklable, importable function), ``jobs``
    at a time in spawned processes with cores // jobs threads each, in the order given once what
    a name ``needs`` (among the names given) is done; ``on_start`` and ``on_done(name, result)``
    are called in this process."""
    waiting, running, done = list(inputs), {}, set()
    failure: BaseException | None = None
    threads = max(1, len(os.sched_getaffinity(0)) // jobs)
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=_worker_setup,
                             initargs=(threads,)) as pool:
        while running or (waiting and failure is None):
            ready = [name for name in waiting
                     if all(need in done or need not in inputs for need in needs.get(name, ()))]
            while failure is None and ready and len(running) < jobs:
                name = ready.pop(0)
                waiting.remove(name)
                running[pool.submit(work, name, inputs[name])] = name
                on_start(name)
            if not running:
                raise ValueError(f"tasks that need each other: {', '.join(waiting)}")
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished:
                name = running.pop(future)
                try:
                    result = future.result()
                except Exception as error:      # raised once the running tasks end
                    error.task = name
                    failure = failure or error
                    continue
                done.add(name)
                on_done(name, result)
    if failure is not None:
        raise failure


def _train(name: str, config, settings):
    from .task import run
    from .tasks import TASKS

    return run(TASKS[name], config, settings)


def train_side_by_side(configs: dict, settings, jobs: int, on_start: Callable[[str], None],
                       on_done: Callable[[str, Any], None]) -> None:
    """Train every task of ``configs`` (name -> config, in the order to start them) ``jobs`` at a
    time; ``on_done(name, TaskResult)``."""
    from .tasks import TASKS

    side_by_side(partial(_train, settings=settings), configs,
                 {name: tuple(getattr(TASKS[name], "needs", ())) for name in configs}, jobs, on_start, on_done)
