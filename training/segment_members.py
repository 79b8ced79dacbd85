"""The users of each segment, saved with the segments model (``training.tasks.segments``) from
its newest snapshot of the ``user_segment`` view: the campaign plans of a segment read them, as no
online store lists the users that share a feature's value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from feature_repo.definitions import names
from shopml.serving import NotReady, SavedModel

MEMBERS_FILE = "members.parquet"


def write_members(table: pl.DataFrame, folder: Path) -> None:
    """The newest snapshot's segment of each user (rows of the ``user_segment`` view), into the
    model's folder."""
    newest = table.filter(pl.col(names.EVENT_TIMESTAMP) == pl.col(names.EVENT_TIMESTAMP).max())
    newest.select(names.USER_ID, names.SEGMENT).sort(names.USER_ID).write_parquet(folder / MEMBERS_FILE)


def segment_members(saved: SavedModel) -> dict[int, np.ndarray]:
    """Segment id -> its users (sorted ids) in the segments model's newest snapshot."""
    path = saved.folder / MEMBERS_FILE
    if not path.exists():
        raise NotReady(f"{saved.tag} was trained before segments kept their members: run `shopml train segments`")
    members = pl.read_parquet(path)
    return {int(segment): part[names.USER_ID].to_numpy()
            for (segment,), part in members.group_by(names.SEGMENT, maintain_order=True)}
