"""Tasks side by side (``training.schedule.side_by_side``): never more than ``jobs`` at once, a
task only after what it needs, a failure raised (naming its task) once the running ones end and
nothing started after it; the registry's needs name real tasks."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from training.schedule import side_by_side
from training.tasks import TASKS


def logged_work(name: str, folder: str) -> str:
    """Record when this ran and in which process; fail for a name that says so."""
    started = time.time()
    if name.startswith("fails"):
        raise ValueError("no rows")
    time.sleep(1.5 if name == "slow" else 0.3)
    Path(folder, f"{name}.json").write_text(json.dumps({"start": started, "end": time.time(), "pid": os.getpid(),
                                                        "threads": os.environ.get("OMP_NUM_THREADS")}))
    return name.upper()


def test_jobs_at_a_time_and_needs_first(tmp_path):
    names = ["a", "b", "c", "d", "e"]
    done = []
    side_by_side(logged_work, {name: str(tmp_path) for name in names}, {"b": ("e",), "c": ("a", "unknown")},
                 jobs=2, on_start=lambda name: None, on_done=lambda name, result: done.append((name, result)))
    runs = {name: json.loads((tmp_path / f"{name}.json").read_text()) for name in names}
    assert sorted(done) == [(name, name.upper()) for name in names]
    assert runs["b"]["start"] >= runs["e"]["end"] and runs["c"]["start"] >= runs["a"]["end"]
    for name, run in runs.items():          # running when this one started, itself included
        assert sum(other["start"] <= run["start"] < other["end"] for other in runs.values()) <= 2, name
    assert {run["threads"] for run in runs.values()} == {str(max(1, len(os.sched_getaffinity(0)) // 2))}
    assert len({run["pid"] for run in runs.values()} - {os.getpid()}) >= 1


def test_a_failure_is_raised_after_the_running_tasks_and_stops_new_starts(tmp_path):
    started = []
    with pytest.raises(ValueError, match="no rows") as raised:
        side_by_side(logged_work, {name: str(tmp_path) for name in ("fails_first", "slow", "later")}, {},
                     jobs=2, on_start=started.append, on_done=lambda name, result: None)
    assert raised.value.task == "fails_first"
    assert started == ["fails_first", "slow"] and (tmp_path / "slow.json").is_file()


def test_tasks_that_need_each_other_are_refused(tmp_path):
    with pytest.raises(ValueError, match="need each other"):
        side_by_side(logged_work, {"a": str(tmp_path), "b": str(tmp_path)}, {"a": ("b",), "b": ("a",)},
                     jobs=2, on_start=lambda name: None, on_done=lambda name, result: None)


def test_the_registry_needs_name_trained_tasks():
    needs = {name: getattr(task, "needs", ()) for name, task in TASKS.items()}
    assert needs["segments"] == ("user_embedding",) and needs["feedback"] == ("review_sentiment",)
    assert all(need in TASKS and list(TASKS).index(need) < list(TASKS).index(name)
               for name, wanted in needs.items() for need in wanted)
