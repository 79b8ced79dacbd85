"""What the platform can answer and how well, from the registry and the model store: per task its
question, endpoint, the stored model (if made) and its headline figure from the model's saved test
metrics. ``shopml tasks`` prints it; ``bench.tasks`` saves it for the README's task table."""

from __future__ import annotations

from dataclasses import dataclass

from shopml.model_store import ModelMissingError, artifact_folder, use_model_store
from shopml.settings import Settings

from .kinds import Headline
from .tasks import REGISTRY, made_by, model_name


@dataclass(frozen=True)
class TaskEntry:
    name: str
    question: str
    family: str
    endpoint: str | None          # its path, when served
    tag: str | None               # the stored model's latest version; None: not made yet
    made_by: str
    headline: Headline | None     # from the saved test metrics


def catalogue(settings: Settings) -> list[TaskEntry]:
    use_model_store(settings)
    entries = []
    for task in REGISTRY.values():
        tag, headline = None, None
        try:
            folder, metadata = artifact_folder(f"{model_name(task)}:latest", settings)
            tag = f"{model_name(task)}:{folder.name}"
            headline = task.evaluation.headline(metadata.get("metrics", {}))
        except ModelMissingError:
            pass
        endpoint = getattr(task, "endpoint", None)
        entries.append(TaskEntry(task.name, task.question, task.family, endpoint.path if endpoint else None, tag,
                                 made_by(task), headline))
    return entries
