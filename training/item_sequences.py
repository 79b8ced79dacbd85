"""Users' item sequences, as the sequence and recommendation tasks read them: catalogue ids as
model indices, each user's views, carts and purchases before a cut-off, and which items follow
which (co-occurrence)."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from scipy import sparse

from feature_repo.definitions import names
from shopml.settings import Settings
from shopml.warehouse.database import connect

from .sequence_model import PAD

SEQUENCE_EVENTS = ("view", "cart", "purchase")
CO_OCCURRENCE_WINDOW = 3          # an item co-occurs with the next three of the same user

SEQUENCES_SQL = """
SELECT user_id AS {user}, list(item_id ORDER BY ts, event_id) AS items
FROM events
WHERE event_type IN ({events}) AND item_id IS NOT NULL AND ts < ?::TIMESTAMPTZ AND ts >= ?::TIMESTAMPTZ
GROUP BY user_id ORDER BY user_id
"""


class ItemIndex:
    """Catalogue item ids <-> model indices 1..n (0 pads; an id not in the catalogue maps to 0)."""

    def __init__(self, item_ids: np.ndarray):
        self.item_ids = np.asarray(item_ids)
        self._order = np.argsort(self.item_ids)

    def of(self, item_ids) -> np.ndarray:
        item_ids = np.asarray(item_ids)
        at = np.searchsorted(self.item_ids, item_ids, sorter=self._order)
        at = np.minimum(at, len(self.item_ids) - 1)
        found = self.item_ids[self._order[at]] == item_ids
        return np.where(found, self._order[at] + 1, PAD)


def sequences_before(settings: Settings, cutoff: datetime, history: timedelta, index: ItemIndex) -> dict[int, np.ndarray]:
    """Per user, the item indices of their views, carts and purchases in ``history`` before
    ``cutoff``, oldest first, a run of the same item kept once."""
    events = ", ".join(f"'{e}'" for e in SEQUENCE_EVENTS)
    with connect(settings.warehouse_path) as con:
        rows = con.sql(SEQUENCES_SQL.format(user=names.USER_ID, events=events), params=[cutoff, cutoff - history]).pl()
    out = {}
    for user, items in zip(rows[names.USER_ID].to_list(), rows["items"].to_list()):
        s = index.of(items)
        s = s[s > PAD]
        if len(s):
            out[user] = s[np.r_[True, s[1:] != s[:-1]]]
    return out


def following_matrix(sequences: list[np.ndarray], items: int) -> sparse.csr_matrix:
    """(items + 1, items + 1) by model index: how often item j came within CO_OCCURRENCE_WINDOW
    steps after item i in ``sequences``."""
    rows, columns = [], []
    for s in sequences:
        for step in range(1, CO_OCCURRENCE_WINDOW + 1):
            rows.append(s[:-step])
            columns.append(s[step:])
    rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    columns = np.concatenate(columns) if columns else np.zeros(0, dtype=np.int64)
    return sparse.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(items + 1, items + 1))
