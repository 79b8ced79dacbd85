"""The shape every task shares. It declares what it is (``Task``: name, question, family, entity,
feature service, evaluation kind and, when served, its endpoint) and, when ``shopml train`` fits
it, a frozen config dataclass with commented defaults and ``build_dataset``, ``train``,
``evaluate``, ``save``, and optionally ``choose``. ``run`` drives them in order and writes the
task's HTML report; the registry (``training.tasks``) lists every task.

Every choice is made on validation data and the test split is read once, by ``evaluate``
(../shared/EVALUATION.md). A config value left to be chosen (``"auto"``, ``None``) is resolved by
the task's ``choose`` after training, from the validation split only; the config it returns, with
the choices made, is what is evaluated, saved with the model and served."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from shopml.settings import Settings

from .evaluation import Evaluation
from .report import write_report

log = logging.getLogger(__name__)


class Task(Protocol):
    name: str                  # the CLI's and the model store's name
    question: str              # what a shop asks, in one line
    family: str                # users, sequences, ranking, marketing, text, demand (one docs page each)
    entity: str                # user, item, ad
    feature_service: str
    evaluation: Any            # its kind (training.kinds): headline and summary of its metrics
    # optional: endpoint: shopml.serving.Endpoint; model (stored model name, default: name);
    # made_by (the command that makes the model, default: `shopml train <name>`);
    # describe(metrics) -> list[str] (task-specific lines after the kind's summary);
    # needs (the tasks whose saved models it reads when training: `train all` trains them first)
    config_type: type

    def build_dataset(self, config, settings: Settings) -> Any: ...
    def train(self, config, data) -> Any: ...
    # optional: def choose(self, config, model, data, settings) -> config (choices made on validation)
    def evaluate(self, config, model, data, settings: Settings) -> Evaluation: ...
    def save(self, config, model, data, metrics: dict, settings: Settings) -> str: ...


def task_labels(task: Task) -> dict[str, str]:
    """The labels every saved model of a task carries: the task and its feature service."""
    return {"task": task.name, "feature_service": task.feature_service}


@dataclass
class TaskResult:
    task: str
    tag: str
    metrics: dict
    report: Path
    seconds: dict[str, float] = field(default_factory=dict)


def run(task: Task, config, settings: Settings, on_step: Callable[[str], None] | None = None,
        data: Any = None) -> TaskResult:
    """Build the dataset (unless ``data`` is one the task built already for ``config``), train,
    choose, evaluate, save and report."""
    seconds: dict[str, float] = {}

    def step(name: str, fn, *args):
        if on_step is not None:
            on_step(name)
        started = time.perf_counter()
        result = fn(*args)
        seconds[name] = round(time.perf_counter() - started, 2)
        log.info("%s: %s took %.1f s", task.name, name, seconds[name])
        return result

    if data is None:
        data = step("build_dataset", task.build_dataset, config, settings)
    model = step("train", task.train, config, data)
    if hasattr(task, "choose"):
        config = step("choose", task.choose, config, model, data, settings)
    evaluation = step("evaluate", task.evaluate, config, model, data, settings)
    metrics = evaluation.metrics()
    tag = step("save", task.save, config, model, data, {**metrics, "seconds": seconds}, settings)
    report = step("report", write_report, settings.reports_dir / task.name, task.name, tag, task.feature_service,
                  task.evaluation.report_sections(evaluation, metrics))
    return TaskResult(task=task.name, tag=tag, metrics=metrics, report=report, seconds=seconds)
