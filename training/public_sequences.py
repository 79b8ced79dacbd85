"""Public next-item benchmarks in the S3-Rec preprocessing (Amazon Beauty, Sports and Outdoors, Toys
and Games, 5-core): one line per user, ``user item1 item2 ...`` in time order, and beside it
``<name>_item2attributes.json`` mapping an item to its attribute ids.

The standard protocol, leave-one-out: a user's last item is the test target (read with every item
before it), the one before is the validation target (read with the items before it), and training
sees only the items before both. Evaluation ranks the whole catalogue, the items the user read
masked (``training.sequence_model.ranking_metrics``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .sequence_model import PAD, Histories

DATASETS = {"Beauty": "Beauty", "Sports": "Sports_and_Outdoors", "Toys": "Toys_and_Games"}
MIN_ITEMS = 3                      # a user needs a training item, a validation target and a test target


@dataclass
class PublicSequences:
    name: str
    sequences: list[np.ndarray]    # per user, item ids 1..items in time order
    items: int
    attributes: np.ndarray | None  # (items, attributes) each item's attribute indicators, row-normalised


@dataclass
class LeaveOneOut:
    train: list[np.ndarray]
    validation: Histories
    test: Histories


def load(folder: Path, name: str) -> PublicSequences:
    """One dataset (``Beauty``, ``Sports``, ``Toys`` or its file stem) from ``folder``."""
    stem = DATASETS.get(name, name)
    path = Path(folder) / f"{stem}.txt"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: known datasets are {', '.join(DATASETS)}")
    sequences = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if len(fields) < 2:
            raise ValueError(f"{path}:{number}: a line is a user id and at least one item id")
        try:
            items = np.asarray(fields[1:], dtype=np.int64)
        except ValueError as error:
            raise ValueError(f"{path}:{number}: {error}") from None
        if items.min() <= PAD:
            raise ValueError(f"{path}:{number}: item ids start at 1")
        sequences.append(items)
    items = int(max(s.max() for s in sequences))
    return PublicSequences(stem, sequences, items, _attributes(Path(folder) / f"{stem}_item2attributes.json", items))


def leave_one_out(sequences: list[np.ndarray]) -> LeaveOneOut:
    """Training prefixes, validation and test histories of the users with at least ``MIN_ITEMS``."""
    kept = [s for s in sequences if len(s) >= MIN_ITEMS]
    return LeaveOneOut(train=[s[:-2] for s in kept],
                       validation=Histories([s[:-2] for s in kept], np.array([s[-2] for s in kept])),
                       test=Histories([s[:-1] for s in kept], np.array([s[-1] for s in kept])))


def _attributes(path: Path, items: int) -> np.ndarray | None:
    if not path.exists():
        return None
    mapping = {int(item): ids for item, ids in json.loads(path.read_text()).items()}
    width = 1 + max((max(ids) for ids in mapping.values() if ids), default=0)
    out = np.zeros((items, width), dtype=np.float32)
    for item, ids in mapping.items():
        if 1 <= item <= items and ids:
            out[item - 1, ids] = 1.0 / len(ids)
    return out
