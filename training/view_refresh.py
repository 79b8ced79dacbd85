"""The feature views that models write, refreshed after ``shopml features build``: the
``user_embedding`` view from the stored user embedding (its snapshots of the rebuilt features)
and the ``user_segment`` view from the stored segments (the nearest centre of each new vector),
without training either again; ``shopml features materialize`` then serves them. A view whose
model the store lacks is left as it is, for training to write.

The segments model keeps its own members list (``training.segment_members``), from the day it
was trained: plans of a segment use that list until ``shopml train segments`` runs again."""

from __future__ import annotations

import numpy as np

from feature_repo.definitions import names
from shopml.model_store import ModelMissingError, artifact_folder
from shopml.settings import Settings

from .tasks.segments import CENTRES_FILE, user_segments, write_user_segments
from .tasks.user_embedding import encoder_from, write_user_vectors


def refresh_model_views(settings: Settings) -> list[str]:
    """Rewrite the model-written user views from the stored models; one line per view refreshed."""
    try:
        folder, metadata = artifact_folder(f"{names.USER_EMBEDDING}:latest", settings)
    except ModelMissingError:
        return []
    every_days = metadata["config"].get("snapshot_every_days", 1)
    vectors = write_user_vectors(encoder_from(folder, metadata), metadata["columns"], settings, every_days)
    done = [f"{names.USER_EMBEDDING}: {vectors.height:,} vectors in {vectors[names.EVENT_TIMESTAMP].n_unique()} "
            f"snapshots, from {names.USER_EMBEDDING}:{folder.name}"]
    try:
        folder, metadata = artifact_folder("segments:latest", settings)
    except ModelMissingError:
        return done
    segments = user_segments(np.load(folder / CENTRES_FILE), settings)
    write_user_segments(segments, settings)
    return done + [f"{names.USER_SEGMENT}: {segments.height:,} rows, from segments:{folder.name}"]
