"""What the shopml service does around its tasks' answers: starting each serving task on its own
(each problem collected, never raised), readiness, the ``GET /health`` report and quiet logs.

A task whose model is not in the store answers 503 with the command that makes it, and the other
tasks answer as usual; ``/health`` lists per task whether it answers. A service that cannot reach
the online store, or whose task fails to start for another reason, or that has no task to serve,
still starts but refuses to become ready: ``/readyz`` answers 503 and ``/health`` (and the log)
says why.

BentoML logs every failed request as an ERROR with a full traceback, a bad request from a client
as much as a bug. ``ClientErrorsInOneLine`` turns the client's errors (a body that fails its
schema, a 4xx) into one WARNING line naming the route and the fields, so real errors stand out.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import bentoml
from bentoml.exceptions import BentoMLException
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shopml.serving import Answerer, NotReady, SavedModel
from shopml.settings import Settings

from .online import OnlineFeatures, OnlineStoreError

log = logging.getLogger("shopml.services")
# beside BentoML's own per-endpoint request counts and latency histograms on /metrics
FEATURE_AGE = bentoml.metrics.Gauge(name="shopml_online_feature_age_seconds", labelnames=["view"],
                                    documentation="Seconds from the end of a view's latest materialisation into the "
                                                  "online store to the services' clock")
FEATURE_AGE_EVERY_SECONDS = 30
REQUEST_ERROR_LOGGER = "bentoml._internal.server.http_app"     # where BentoML logs a failed request
MAX_PROBLEMS_LOGGED = 5


def client_problem(error: BaseException | None) -> str | None:
    """One line on what the client got wrong, or None when ``error`` is not the client's fault."""
    if isinstance(error, ValidationError):
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_input=False)]
        more = len(problems) - MAX_PROBLEMS_LOGGED
        return "; ".join(problems[:MAX_PROBLEMS_LOGGED]) + (f" (and {more} more)" if more > 0 else "")
    if isinstance(error, BentoMLException) and error.error_code.value < 500:
        return f"{error.error_code.value} {' '.join(str(error).split())}"
    return None


class ClientErrorsInOneLine(logging.Filter):
    """Rewrites BentoML's log record of a request that failed through the client's fault into one
    WARNING line without a traceback; server errors pass unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        problem = client_problem(record.exc_info[1] if record.exc_info else None)
        if problem is not None:
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
            record.msg, record.args = "client error on %s [%s]: %s", (*record.args, problem)
            record.exc_info = record.exc_text = None
        return True


def log_client_errors_in_one_line() -> None:
    logger = logging.getLogger(REQUEST_ERROR_LOGGER)
    if not any(isinstance(f, ClientErrorsInOneLine) for f in logger.filters):
        logger.addFilter(ClientErrorsInOneLine())


@dataclass(frozen=True)
class Unavailable:
    """Why a task's endpoint does not answer."""

    reason: str
    missing_model: bool          # true: nothing is broken, the model has not been made yet


def load_model(reference: bentoml.models.BentoModel) -> SavedModel:
    stored = reference.stored
    return SavedModel(tag=str(stored.tag), folder=Path(stored.path), metadata=dict(stored.info.metadata))


def model_attribute(model: str) -> str:
    return f"{model}_model"


def stored_models(models: list[str]) -> dict[str, bentoml.models.BentoModel]:
    """A ``BentoModel`` reference per model the store holds (its latest version), as the service
    class's attributes (``bentoml build`` packs the models its service names). A model the store
    lacks gets none: BentoML would stop the whole server for it, or reach for a remote store."""
    references = {model: bentoml.models.BentoModel(f"{model}:latest") for model in models}
    return {model_attribute(model): reference for model, reference in references.items() if reference.stored is not None}


class ShopService:
    """Base of the service class ``services.service`` builds from the registry: starts each
    serving task on its own (its models from the class's ``BentoModel`` attributes, its answerer
    from ``Endpoint.start``) and answers its endpoint, or says why it cannot. A task whose model
    is missing answers 503 naming the command that makes it; the others keep answering."""

    tasks: tuple = ()                    # the registry's serving tasks
    made_by: dict[str, str] = {}         # model -> the command that makes it

    def __init__(self) -> None:
        log_client_errors_in_one_line()
        self.problems: list[str] = []                   # what keeps the service from being ready
        self.answerers: dict[str, Answerer] = {}
        self.unavailable: dict[str, Unavailable] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.online = None
        try:
            online = OnlineFeatures(Settings.resolve())
            online.check()
            self.online = online
            threading.Thread(target=self._record_feature_ages, name="feature-ages", daemon=True).start()
        except OnlineStoreError as error:
            self.problems.append(str(error))
        for task in self.tasks:
            self._start(task)
        if not self.answerers and not self.problems:
            self.problems.append("no task can answer: " + "; ".join(
                f"{name}: {why.reason}" for name, why in self.unavailable.items()))
        for problem in self.problems:
            log.error("not ready: %s", problem)
        for name, why in self.unavailable.items():
            if why.missing_model:
                log.warning("%s does not answer: %s", name, why.reason)

    def _start(self, task) -> None:
        endpoint = task.endpoint
        references = {m: inspect.getattr_static(type(self), model_attribute(m), None)
                      for m in endpoint.all_models}
        missing = [m for m in endpoint.models if references[m] is None]
        if missing:
            reason = "; ".join(f"model {m} is not in the model store {os.environ.get('BENTOML_HOME', '~/bentoml')}: "
                               f"run `{self.made_by.get(m, 'shopml train ' + m)}`" for m in missing)
            self.unavailable[task.name] = Unavailable(reason, missing_model=True)
            return
        if self.online is None:
            self.unavailable[task.name] = Unavailable("the online store cannot be read", missing_model=False)
            return
        models = {m: load_model(reference) for m, reference in references.items() if reference is not None}
        try:
            self.answerers[task.name] = endpoint.start(models, self.online)
            self.tags[task.name] = {m: saved.tag for m, saved in models.items()}
        except (NotReady, OnlineStoreError) as error:
            self.unavailable[task.name] = Unavailable(str(error), missing_model=False)
            self.problems.append(f"{task.name}: {error}")

    def _record_feature_ages(self) -> None:
        """Keep the /metrics gauge of each view's feature age current (every FEATURE_AGE_EVERY_SECONDS)."""
        while True:
            try:
                for view, age in self.online.feature_ages().items():
                    FEATURE_AGE.labels(view=view).set(age)
            except Exception as error:          # the registry unreachable for a moment: try again later
                log.warning("feature ages not recorded: %s", error)
            time.sleep(FEATURE_AGE_EVERY_SECONDS)

    def __is_ready__(self) -> bool:
        return not self.problems

    def answer(self, task: str, request):
        """The task's answer, or a 503 saying why it has none (BentoML's own 5xx hides the reason)."""
        answerer = self.answerers.get(task)
        if answerer is None:
            why = self.unavailable.get(task, Unavailable("not started", missing_model=False))
            return JSONResponse({"error": f"{task} is not available: {why.reason}"}, status_code=503)
        return answerer.answer(request)

    def health(self) -> dict:
        """Readiness, the problems that stop it, warnings (stale online features), and per task
        whether it answers, its models, or why not."""
        warnings = self.online.stale_views() if self.online is not None else []
        for warning in warnings:
            log.warning("stale features: %s", warning)
        clock = self.online.clock().isoformat() if self.online is not None else None
        tasks = {task.name: ({"ready": True, "models": self.tags[task.name]} if task.name in self.answerers else
                             {"ready": False, "reason": self.unavailable[task.name].reason})
                 for task in self.tasks}
        return {"ready": not self.problems, "problems": self.problems, "warnings": warnings, "serving_time": clock,
                "tasks": tasks}


async def _health(request: Request) -> JSONResponse:
    report = bentoml.get_current_service().health()
    return JSONResponse(report, status_code=200 if report["ready"] else 503)


health_app = Starlette(routes=[Route("/", _health)])     # mounted at /health on every service
