"""What every shopml service shares: loading a saved model from a ``BentoModel`` reference,
starting the service's parts (each part's problem is collected, never raised), readiness, and the
``GET /health`` report.

A service that cannot load a model or reach the online store still starts but refuses to become
ready: ``/readyz`` answers 503, ``/health`` lists every problem (so does the log), and an endpoint
whose part did not start answers 503 (BentoML keeps a 5xx's message out of the answer; ``/health``
has it). A model missing from the store stops ``bentoml serve`` itself, with a message naming it.

BentoML logs every failed request as an ERROR with a full traceback, a bad request from a client
as much as a bug. ``ClientErrorsInOneLine`` turns the client's errors (a body that fails its
schema, a 4xx) into one WARNING line naming the route and the fields, so real errors stand out.
"""

from __future__ import annotations

import inspect
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import bentoml
from bentoml.exceptions import BentoMLException, ServiceUnavailable
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shopml.settings import Settings

from .online import OnlineFeatures, OnlineStoreError

log = logging.getLogger("shopml.services")
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


class NotReady(RuntimeError):
    """A part of a service cannot start; the message says why and what to run."""


@dataclass(frozen=True)
class SavedModel:
    tag: str
    folder: Path
    metadata: dict


def load_model(reference: bentoml.models.BentoModel, made_by: str) -> SavedModel:
    """The stored model a ``BentoModel`` reference names; a missing one is reported, never fetched."""
    stored = reference.stored
    if stored is None:
        raise NotReady(f"model {reference.tag} is not in the model store {os.environ.get('BENTOML_HOME', '~/bentoml')}"
                       f"; `{made_by}` makes it")
    return SavedModel(tag=str(stored.tag), folder=Path(stored.path), metadata=dict(stored.info.metadata))


class ServiceParts:
    """Base of every service class: ``parts`` names the ``start_<part>(online)`` methods the
    service's endpoint groups provide; each sets ``self.<part>`` or raises NotReady."""

    parts: tuple[str, ...] = ()

    def __init__(self) -> None:
        log_client_errors_in_one_line()
        self.problems: list[str] = []
        self.online = online = None
        try:
            online = OnlineFeatures(Settings.resolve())
            online.check()
            self.online = online
        except OnlineStoreError as error:
            self.problems.append(str(error))
        for part in self.parts:
            setattr(self, part, None)
            if online is None:
                continue
            try:
                getattr(self, f"start_{part}")(online)
            except (NotReady, OnlineStoreError) as error:
                self.problems.append(f"{part}: {error}")
        for problem in self.problems:
            log.error("not ready: %s", problem)

    def __is_ready__(self) -> bool:
        return not self.problems

    def saved_model(self, attribute: str, made_by: str) -> SavedModel:
        """The model a ``BentoModel`` class attribute names. Read statically: reading it from the
        instance would resolve it, and BentoML resolves a missing model by reaching for a remote
        store."""
        return load_model(inspect.getattr_static(type(self), attribute), made_by)

    def part(self, name: str):
        started = getattr(self, name, None)
        if started is None:
            raise ServiceUnavailable(f"{name} is not available: {'; '.join(self.problems)}")
        return started

    def health(self) -> dict:
        """Readiness, the problems that stop it, warnings (stale online features) and the models."""
        models = {part: getattr(self, part).models() for part in self.parts if getattr(self, part, None) is not None}
        warnings = self.online.stale_views() if self.online is not None else []
        for warning in warnings:
            log.warning("stale features: %s", warning)
        clock = self.online.clock().isoformat() if self.online is not None else None
        return {"ready": not self.problems, "problems": self.problems, "warnings": warnings, "serving_time": clock,
                "models": models}


async def _health(request: Request) -> JSONResponse:
    report = bentoml.get_current_service().health()
    return JSONResponse(report, status_code=200 if report["ready"] else 503)


health_app = Starlette(routes=[Route("/", _health)])     # mounted at /health on every service
