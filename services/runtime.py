"""What every shopml service shares: loading a saved model from a ``BentoModel`` reference,
starting the service's parts (each part's problem is collected, never raised), readiness, and the
``GET /health`` report.

A service that cannot load a model or reach the online store still starts but refuses to become
ready: ``/readyz`` answers 503, ``/health`` lists every problem (so does the log), and an endpoint
whose part did not start answers 503 (BentoML keeps a 5xx's message out of the answer; ``/health``
has it). A model missing from the store stops ``bentoml serve`` itself, with a message naming it.
"""

from __future__ import annotations

import inspect
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import bentoml
from bentoml.exceptions import ServiceUnavailable
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shopml.settings import Settings

from .online import OnlineFeatures, OnlineStoreError

log = logging.getLogger("shopml.services")


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
        self.problems: list[str] = []
        online = None
        try:
            online = OnlineFeatures(Settings.resolve())
            online.check()
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
        models = {part: getattr(self, part).models() for part in self.parts if getattr(self, part, None) is not None}
        return {"ready": not self.problems, "problems": self.problems, "models": models}


async def _health(request: Request) -> JSONResponse:
    report = bentoml.get_current_service().health()
    return JSONResponse(report, status_code=200 if report["ready"] else 503)


health_app = Starlette(routes=[Route("/", _health)])     # mounted at /health on every service
