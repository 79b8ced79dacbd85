"""Simulator runs spread over processes give the same results, in the same order, as run one
after the other in the calling process; the workers are kept for later batches."""

import os
import signal
import time
from concurrent.futures.process import BrokenProcessPool

import pytest

from shopml.warehouse.simulator import parallel
from shopml.warehouse.simulator.parallel import WORKERS_VARIABLE, run_all


def test_runs_in_processes_equal_runs_in_this_process(monkeypatch):
    arguments = [(base, exponent) for base in range(2, 6) for exponent in (2, 3)]
    monkeypatch.setenv(WORKERS_VARIABLE, "1")
    here = run_all(pow, arguments)
    monkeypatch.setenv(WORKERS_VARIABLE, "2")
    assert run_all(pow, arguments) == here == [b ** e for b, e in arguments]
    assert run_all(pow, [(2,), (3,)], common=(10,)) == [100, 1000]


def test_later_batches_reuse_the_workers_with_their_own_shared_arguments(monkeypatch):
    monkeypatch.setenv(WORKERS_VARIABLE, "2")
    assert run_all(pow, [(2,), (3,)], common=(10,)) == [100, 1000]
    kept = parallel._pool
    assert run_all(pow, [(2,), (3,)], common=(3,)) == [9, 27]
    assert parallel._pool is kept and set(run_all(os.getpid, [(), (), (), ()])) <= set(kept._processes)


def test_a_killed_worker_fails_its_batch_and_the_next_batch_starts_afresh(monkeypatch):
    monkeypatch.setenv(WORKERS_VARIABLE, "2")
    os.kill(run_all(os.getpid, [(), ()])[0], signal.SIGKILL)
    with pytest.raises(BrokenProcessPool):
        run_all(time.sleep, [(0.5,), (0.5,)])
    assert run_all(pow, [(2,), (3,)], common=(10,)) == [100, 1000]
