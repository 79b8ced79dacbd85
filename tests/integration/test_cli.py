"""The ``shopml`` command line, run as a user runs it: a real subprocess."""

import os
import subprocess
import sys

import duckdb
import pytest

from shopml.warehouse.simulator import SimulationConfig, simulate

SHOPML = [sys.executable, "-m", "shopml.cli"]


def run(*args, env=None, check=True):
    environment = {**os.environ, **(env or {}), "COLUMNS": "200"}
    result = subprocess.run([*SHOPML, *args], capture_output=True, text=True, env=environment, timeout=300)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_help_answers_without_importing_heavy_stages():
    code = ("import sys; from typer.testing import CliRunner; from shopml.cli import app; "
            "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0; "
            "heavy = [m for m in ('torch', 'feast', 'bentoml', 'lightgbm', 'duckdb', 'polars') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    for command in ("simulate", "summary", "ingest", "ingest online-retail", "train", "features", "features build",
                    "features apply", "features materialize", "whatif"):
        assert "--help" in run(*command.split(), "--help").stdout


def test_simulate_then_summary_on_an_explicit_home(tmp_path):
    run("simulate", "--users", "300", "--days", "12", "--seed", "3", "--home", str(tmp_path))
    assert (tmp_path / "warehouse.duckdb").is_file()
    out = run("summary", "--home", str(tmp_path)).stdout
    for expected in ("users", "300", "events", "sample of events", "source: simulated", "2026-01-05"):
        assert expected in out


def test_the_search_engine_explores_the_share_asked_for(tmp_path):
    run("simulate", "--users", "300", "--days", "12", "--search-exploration", "0.5", "--home", str(tmp_path))
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        share = con.execute("SELECT avg(explored::INT) FROM searches").fetchall()[0][0]
    assert 0.4 < share < 0.6


def test_home_follows_the_environment_variable(tmp_path):
    run("simulate", "--users", "100", "--days", "3", env={"SHOPML_HOME": str(tmp_path / "env_home")})
    assert (tmp_path / "env_home" / "warehouse.duckdb").is_file()


def test_bad_input_gives_a_clear_error_and_no_traceback(tmp_path):
    result = run("simulate", "--users", "2", "--home", str(tmp_path), check=False)
    assert result.returncode == 2 and "users must be at least 10" in result.stdout
    result = run("simulate", "--search-exploration", "1.5", "--home", str(tmp_path), check=False)
    assert result.returncode == 2 and "--search-exploration must be a share from 0 to 1" in result.stdout
    result = run("summary", "--home", str(tmp_path / "empty"), check=False)
    assert result.returncode == 2 and "shopml simulate" in result.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    result = run("ingest", "online-retail", str(bad), "--home", str(tmp_path), check=False)
    assert result.returncode == 2 and "missing required columns" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "warehouse.duckdb").exists()
    result = run("whatif", "--home", str(tmp_path / "empty"), check=False)
    assert result.returncode == 2 and "shopml train price_elasticity" in result.stdout
    result = run("whatif", "--policy", "coupons", "--home", str(tmp_path / "empty"), check=False)
    assert result.returncode == 2 and "shopml train coupon_uplift" in result.stdout
    result = run("whatif", "--policy", "search", "--home", str(tmp_path / "empty"), check=False)
    assert result.returncode == 2 and "shopml train feedback" in result.stdout
    result = run("features", "materialize", "--view", "user_nothing", "--home", str(tmp_path), check=False)
    assert result.returncode == 2 and "unknown online views ['user_nothing']" in result.stdout
    result = run("whatif", "--policy", "discounts", "--home", str(tmp_path), check=False)
    assert result.returncode == 2 and "unknown policy 'discounts'" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_ingest_prints_rejected_counts_per_reason(tmp_path):
    source = tmp_path / "retail.csv"
    source.write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "1,A1,CUP,2,12/1/2010 8:26,1.5,100,UK\n"
        "C2,A1,CUP,-2,12/1/2010 8:30,1.5,100,UK\n"
        "3,A1,CUP,2,12/1/2010 8:40,1.5,,UK\n")
    out = run("ingest", "online-retail", str(source), "--home", str(tmp_path)).stdout
    assert "cancellation" in out and "missing_customer_id" in out and "1 accepted" in out


def test_a_failed_simulation_leaves_the_previous_warehouse(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    simulate(SimulationConfig(users=100, days=3, seed=1), path)
    before = path.read_bytes()

    def crash(day, _total):
        if day == 2:
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        simulate(SimulationConfig(users=100, days=5, seed=2), path, on_day=crash)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["warehouse.duckdb"]
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM users").fetchall() == [(100,)]
