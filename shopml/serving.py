"""What a task declares to be served, and the pieces every endpoint shares: the request limits
and id types, a stored model as the services load it, the online-feature reader a task answers
from, and the example shop that ``serve --try-endpoints`` and the tests call each endpoint with.

A task's ``Endpoint`` names its path, its request and response schemas (pydantic), the models it
needs from the store (and those it uses when the store holds them), and ``start``: given those
models and the online reader, the object whose ``answer(request)`` turns a request into a
response. The services mount one endpoint per task of the registry (``training.tasks``) and start
each on its own, so one task's missing model makes only its endpoint refuse (503, naming the
command that makes the model).

Requests are strict: unknown fields, wrong types (``"7"`` for an id), ids outside the signed
64-bit range the stores key on, empty or oversized lists, ``k`` out of range and over-long
queries are refused with a 400 that names the field. Responses say when a fallback answered
instead of the model (``known_user: false``, ``fallback: "popular items"``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo

from feature_repo.definitions import names

MAX_USERS = 1000          # user ids per request of a per-user endpoint
MAX_K = 100               # results per request of an item endpoint
UNKNOWN_USER = -1         # no user has this id: example calls show the documented fallback
USER_VIEWS = (names.USER_ACTIVITY, names.USER_ENGAGEMENT)     # a user is known when these have a row online

# an entity id: the feature store and the models key on signed 64-bit integers
Id = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
UserIds = Annotated[list[Id], Field(min_length=1, max_length=MAX_USERS)]
K = Annotated[int, Field(ge=1, le=MAX_K)]


def must_not_repeat(ids: list[int] | None, info: ValidationInfo) -> list[int] | None:
    """A request's list of ids (or names), refused when one repeats (``field_validator(name)(must_not_repeat)``)."""
    if ids is not None and len(set(ids)) != len(ids):
        raise ValueError(f"{info.field_name} must not repeat")
    return ids


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class UsersRequest(Request):
    user_ids: UserIds


class ItemResult(BaseModel):
    item_id: int
    title: str | None
    score: float


class NotReady(RuntimeError):
    """A part of a service cannot start; the message says why and what to run."""


@dataclass(frozen=True)
class SavedModel:
    tag: str
    folder: Path
    metadata: dict


class OnlineReader(Protocol):
    def read(self, feature_service: str, entity_rows: dict[str, list]) -> dict[str, list]: ...


class Answerer(Protocol):
    def answer(self, request: Any) -> BaseModel: ...


@dataclass(frozen=True)
class ExampleShop:
    """Ids from the shop's own data to call each endpoint with (``services.examples``)."""

    active_user: int          # the most active user of the last 30 days
    shown_ads: list[int]      # the most shown ads
    bought_item: int          # the most bought item
    query: str                # the latest search
    page_items: list[int]     # the items of the latest category page (else the best sellers)


@dataclass(frozen=True)
class Endpoint:
    path: str                                            # e.g. "/churn"
    request: type[Request]
    response: type[BaseModel]
    models: tuple[str, ...]                              # stored models it needs, by name (latest version)
    start: Callable[[dict[str, SavedModel], OnlineReader], Answerer]
    example: Callable[[ExampleShop], dict]               # one request body on the example shop
    doc: str                                             # one line, shown in the API docs
    optional_models: tuple[str, ...] = ()                # stored models it uses when the store holds them

    @property
    def all_models(self) -> tuple[str, ...]:
        return self.models + self.optional_models


def known_users(features: dict[str, list]) -> np.ndarray:
    """Per row, whether the online store holds any of the user's activity or engagement."""
    columns = [values for column, values in features.items() if column.split("__")[0] in USER_VIEWS]
    return np.array([any(value is not None for value in row) for row in zip(*columns)], dtype=bool)
