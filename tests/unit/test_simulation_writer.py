"""The simulation's rows are written by a thread of their own while later days are simulated:
an insert that fails fails the run, and no warehouse is left behind."""

import pytest

from shopml.warehouse.simulator import SimulationConfig, run
from shopml.warehouse.simulator.run import simulate

SMALL_SHOP = SimulationConfig(users=300, days=6, seed=3)


def test_a_failed_insert_fails_the_run_and_leaves_no_warehouse(tmp_path, monkeypatch):
    inserted = []
    real_insert = run._insert

    def insert_until_day_four(con, table, columns):
        if len(inserted) > 4 * 15:
            raise OSError("disk full")
        inserted.append(table)
        return real_insert(con, table, columns)

    monkeypatch.setattr(run, "_insert", insert_until_day_four)
    with pytest.raises(OSError, match="disk full"):
        simulate(SMALL_SHOP, tmp_path / "warehouse.duckdb")
    assert list(tmp_path.iterdir()) == []


def test_the_run_writes_every_day(tmp_path):
    counts = simulate(SMALL_SHOP, tmp_path / "warehouse.duckdb")
    assert counts["events"] > 0 and counts["truth.user_days"] > 0
    assert [p.name for p in tmp_path.iterdir()] == ["warehouse.duckdb"]
