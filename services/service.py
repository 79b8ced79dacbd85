"""The entry service: every endpoint of the scoring and item services in one process (no hop
between services), started by ``shopml serve`` and built into the Bento (``pyproject.toml``)."""

from __future__ import annotations

import bentoml

from .items import ItemEndpoints
from .runtime import ServiceParts, health_app
from .scoring import ScoringEndpoints


@bentoml.asgi_app(health_app, path="/health")
@bentoml.service(name="shopml", traffic={"timeout": 30})
class Shop(ScoringEndpoints, ItemEndpoints, ServiceParts):
    parts = ("scorer", "items")
