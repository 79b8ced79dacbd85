"""Shared fixtures: the tiny simulated shop, built once per test run (under ``-n 2`` the first
worker builds it, under a file lock, and the other reads the same file), and paths to the
shared datasets."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
from filelock import FileLock

from shopml.warehouse.simulator import SimulationConfig, simulate
from shopml.warehouse.simulator.parallel import WORKERS_VARIABLE
from training.schedule import THREADS_VARIABLE

# the suite already runs one test process per core: simulator futures stay in their test's process
# (tests/unit/test_parallel.py covers the processes themselves)
os.environ.setdefault(WORKERS_VARIABLE, "1")
# and each model fit (LightGBM, PyTorch) gets its process's share of the cores, as `shopml train all
# --jobs` gives its processes: busy-waiting OpenMP threads of fits side by side fight over the cores
TEST_PROCESSES = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
for variable in (THREADS_VARIABLE, "OMP_NUM_THREADS"):
    os.environ.setdefault(variable, str(max(1, len(os.sched_getaffinity(0)) // TEST_PROCESSES)))

TINY_SHOP = SimulationConfig(users=2_500, days=70, seed=11)
DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


TIERS = ("unit", "integration", "e2e")        # the folders under tests/, each a marker


def pytest_collection_modifyitems(items) -> None:
    """Mark every test with its tier, from its folder: ``pytest -m unit`` runs the fast tier."""
    for item in items:
        tier = next((part for part in item.path.parts if part in TIERS), None)
        if tier is not None:
            item.add_marker(tier)


def run_wide_folder(tmp_path_factory) -> Path:
    """A folder every worker of this run shares (pytest-xdist's per-worker base's parent)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if base.name.startswith("popen-gw") else base


@pytest.fixture(scope="session")
def tiny_warehouse(tmp_path_factory) -> Path:
    """The tiny shop's warehouse, read-only: a test that changes it works on a copy."""
    folder = run_wide_folder(tmp_path_factory) / "tiny_shop"
    folder.mkdir(exist_ok=True)
    path = folder / "warehouse.duckdb"
    with FileLock(str(folder / "build.lock")):
        if not path.is_file():
            simulate(TINY_SHOP, path)
    return path


def tiny_shop_home(tiny_warehouse: Path, tmp_path_factory, name: str):
    """A home of its own whose warehouse is the tiny shop (linked, read only: the shop is shared)."""
    from shopml.settings import Settings

    settings = Settings.resolve(tmp_path_factory.mktemp(name))
    settings.ensure_home()
    settings.warehouse_path.symlink_to(tiny_warehouse)
    return settings


@pytest.fixture()
def wh(tiny_warehouse):
    """A read-only connection to the tiny shop."""
    con = duckdb.connect(str(tiny_warehouse), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    yield con
    con.close()


def rows(con, query: str, params=None) -> list[tuple]:
    return con.execute(query, params or []).fetchall()


def value(con, query: str, params=None):
    return rows(con, query, params)[0][0]


@pytest.fixture(scope="session")
def model_home(tiny_warehouse, tmp_path_factory):
    """A feature home on the tiny shop for every test that saves models: BentoML reads its model
    store's location once per process, so one test process has one model store."""
    from tests.integration.test_feature_store import feature_home

    return feature_home(tiny_warehouse, tmp_path_factory.mktemp("model_home"))
