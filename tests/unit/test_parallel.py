"""Simulator runs spread over processes give the same results, in the same order, as run one
after the other in the calling process."""

from shopml.warehouse.simulator.parallel import WORKERS_VARIABLE, run_all


def test_runs_in_processes_equal_runs_in_this_process(monkeypatch):
    arguments = [(base, exponent) for base in range(2, 6) for exponent in (2, 3)]
    monkeypatch.setenv(WORKERS_VARIABLE, "1")
    here = run_all(pow, arguments)
    monkeypatch.setenv(WORKERS_VARIABLE, "2")
    assert run_all(pow, arguments) == here == [b ** e for b, e in arguments]
    assert run_all(pow, [(2,), (3,)], common=(10,)) == [100, 1000]
