"""The README's task table is what ``python -m bench.docs`` generates from the registry and
``bench/results/tasks.json``: every task listed, no figure typed by hand; the README stays short."""

import json

from bench.docs import END, README, START, task_table
from bench.measure import RESULTS_DIR
from training.tasks import REGISTRY


def test_the_readme_task_table_is_generated_from_the_registry():
    readme = README.read_text()
    table = readme.split(START, 1)[1].split(END, 1)[0].strip()
    measured = {t["name"]: t for t in json.loads((RESULTS_DIR / "tasks.json").read_text())["tasks"]}
    assert table == task_table(measured)
    assert all(f"| `{name}` |" in table for name in REGISTRY)


def test_the_readme_is_short():
    assert len(README.read_text().splitlines()) <= 150
