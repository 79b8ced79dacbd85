"""The entry service, built from the task registry: one endpoint per serving task (its path,
request and response schemas from the task's ``Endpoint``), a ``BentoModel`` attribute per model
the store holds, and ``GET /health``. Started by ``shopml serve`` and built into the Bento
(``pyproject.toml``)."""

from __future__ import annotations

import bentoml

from training.tasks import REGISTRY, made_by, model_name, serving_tasks

from .runtime import ShopService, health_app, stored_models


def endpoint_method(task):
    """The BentoML API of ``task``'s endpoint: the validated body goes to the task's answerer."""
    endpoint = task.endpoint

    def call(self, **fields):
        return self.answer(task.name, endpoint.request.model_construct(**fields))

    call.__name__, call.__qualname__, call.__doc__ = task.name, f"Shop.{task.name}", endpoint.doc
    return bentoml.api(route=endpoint.path, input_spec=endpoint.request, output_spec=endpoint.response)(call)


def shop_class(tasks: list) -> type:
    models = sorted({model for task in tasks for model in task.endpoint.all_models})
    attributes = {"tasks": tuple(tasks), "made_by": {model_name(t): made_by(t) for t in REGISTRY.values()},
                  **stored_models(models), **{task.name: endpoint_method(task) for task in tasks}}
    return type("Shop", (ShopService,), attributes)


Shop = bentoml.asgi_app(health_app, path="/health")(
    bentoml.service(name="shopml", traffic={"timeout": 30})(shop_class(serving_tasks())))
