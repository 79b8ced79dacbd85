"""Reading the online store at request speed: what ``FeatureStore.get_online_features(refs,
rows, full_feature_names=True).to_dict(include_event_timestamps=True)`` answers for its feature
columns, from the stores the bulk loader writes (``feature_repo.online_load``).

Feast's read parses every stored value into a protobuf, then converts the whole response through
protobuf again: 97 ms at p99 for 100 users of ``churn_v1`` on SQLite, most of it Python. Here the
entity keys are serialised at once (``online_encoding``), each view is one SQL query (SQLite) or
each entity one ``HMGET`` of every view's fields in one pipeline (Redis), and the values decode
from their bytes: doubles all at once with NumPy, any other type by Feast's own conversion. The
tests compare every column with Feast's answer for every feature service, with unknown entities.
"""

from __future__ import annotations

import copy
import sqlite3
import threading
from collections import defaultdict
from functools import cache, lru_cache
from itertools import chain

import numpy as np
import pyarrow as pa
from feast.infra.online_stores.helpers import _mmh3, compute_table_id
from feast.protos.feast.types.Value_pb2 import Value
from feast.type_map import feast_value_type_to_python_type
from feast.value_type import ValueType
from google.protobuf.timestamp_pb2 import Timestamp

from .online_encoding import SCALARS, encode_entity_keys, split
from .online_load import online_supported

STAMP = "__ts"           # Feast's suffix of a feature's event time (epoch seconds, 0 when absent)
DOUBLE_TAG = SCALARS[ValueType.DOUBLE][0]
DOUBLE_SIZE = 1 + 8
# a read maps the file (no system call per page) and keeps 256 MiB of pages (default 2 MiB)
READ_SETTINGS = ("mmap_size = 1073741824", "cache_size = -262144")
KEY_ARROW_TYPES = {ValueType.INT64: pa.int64(), ValueType.INT32: pa.int32(), ValueType.STRING: pa.string()}


def decoded(values: list[bytes | None]) -> list:
    """Stored ``Value`` bytes as Feast's online response gives them (None for a missing or empty one).
    Doubles (a tag byte and 8 little-endian bytes) are read at once from the values joined end to
    end; anything else by Feast's own conversion."""
    present = [value or b"" for value in values]
    lengths = np.fromiter(map(len, present), np.int64, len(present))
    blob = np.frombuffer(b"".join(present), np.uint8)
    starts = np.cumsum(lengths) - lengths
    is_double = lengths == DOUBLE_SIZE
    is_double[is_double] = blob[starts[is_double]] == DOUBLE_TAG[0]
    doubles = np.flatnonzero(is_double)
    out = np.full(len(present), None, dtype=object)
    out[doubles] = blob[starts[doubles, None] + np.arange(1, DOUBLE_SIZE)].view("<f8").ravel().astype(object)
    for i in np.flatnonzero((lengths > 0) & ~is_double).tolist():
        out[i] = converted(present[i])
    return out.tolist()


@lru_cache(maxsize=1 << 16)
def _converted(value: bytes):
    return feast_value_type_to_python_type(Value.FromString(value))


def converted(value: bytes):
    """Feast's conversion of a stored value, remembered for the values that recur (flags, small
    counts, a country): parsing a protobuf costs more than a dictionary lookup. A list or a map is
    copied, so that no caller changes another's."""
    python = _converted(value)
    return copy.deepcopy(python) if isinstance(python, (list, dict)) else python


@cache
def hash_fields(view: str, features: tuple[str, ...]) -> list[bytes]:
    """A view's hash fields in Feast's Redis layout: its event time's, then each feature's."""
    return [f"_ts:{view}".encode(), *(_mmh3(f"{view}:{feature}") for feature in features)]


class OnlineReader:
    """Feature columns and their ``__ts`` columns, for feature references ``view:feature``."""

    def __init__(self, store):
        why = online_supported(store.config)
        if why is not None:
            raise ValueError(f"the online reader does not read {why}")
        self.config = store.config
        self.views = {view.name: view for view in store.list_feature_views()}
        self.key_types = {name: {c.name: c.dtype.to_value_type() for c in view.entity_columns}
                          for name, view in self.views.items()}
        if self.config.online_store.type == "sqlite":
            from feast.infra.online_stores.sqlite import SqliteOnlineStore

            self.sqlite_path = SqliteOnlineStore._get_db_path(self.config)    # where Feast's own store opens it
            self.connections = threading.local()          # one SQLite connection per serving thread
        else:
            from feast.infra.online_stores.redis import RedisOnlineStore

            self.redis = RedisOnlineStore()._get_client(self.config.online_store)

    def _keys(self, types: dict[str, ValueType], rows: dict[str, list]) -> list[bytes]:
        table = pa.table({key: pa.array(rows[key], KEY_ARROW_TYPES[types[key]]) for key in types})
        return split(encode_entity_keys(table, types), table.num_rows)

    def read(self, refs: list[str], rows: dict[str, list]) -> dict[str, list]:
        by_view: dict[str, list[str]] = defaultdict(list)
        for ref in refs:
            view, feature = ref.split(":", 1)
            by_view[view].append(feature)
        by_keys: dict[tuple, list[bytes]] = {}           # views with the same join keys share their keys
        keys = {}
        for view in by_view:
            types = self.key_types[view]
            signature = tuple(sorted(types.items()))
            if signature not in by_keys:
                by_keys[signature] = self._keys(types, rows)
            keys[view] = by_keys[signature]
        distinct = {view: list(dict.fromkeys(view_keys)) for view, view_keys in keys.items()}
        stored = self._redis(by_view, distinct) if hasattr(self, "redis") else self._sqlite(by_view, distinct)
        out: dict[str, list] = {}
        for view, features in by_view.items():
            slots, seconds = stored[view]
            flat, row_keys, unique = decoded(slots), keys[view], distinct[view]
            stamps = [seconds.get(key, 0) for key in row_keys]
            if len(unique) == len(row_keys):                # each key once: the slots are in the rows' order
                columns = [flat[j * len(row_keys):(j + 1) * len(row_keys)] for j in range(len(features))]
            else:
                where = {key: i for i, key in enumerate(unique)}
                columns = [[flat[j * len(unique) + where[key]] for key in row_keys] for j in range(len(features))]
            for feature, column in zip(features, columns):
                out[f"{view}__{feature}"] = column
                out[f"{view}__{feature}{STAMP}"] = list(stamps)
        return out

    def _sqlite(self, by_view: dict[str, list[str]], keys: dict[str, list[bytes]]) -> dict:
        """Per view, the stored values in slots (feature-major, then the keys' order) and each
        key's event time."""
        if not hasattr(self.connections, "sqlite"):
            self.connections.sqlite = sqlite3.connect(self.sqlite_path)
            for setting in READ_SETTINGS:
                self.connections.sqlite.execute(f"PRAGMA {setting}")
        stored = {}
        for view, features in by_view.items():
            table = compute_table_id(self.config.project, self.views[view], False)
            # every feature of each key (one index range per key); its event time once, with the
            # first feature asked for (each feature of a key carries the same)
            found = self.connections.sqlite.execute(
                f'SELECT entity_key, feature_name, value, CASE WHEN feature_name = ? THEN event_ts END '
                f'FROM "{table}" WHERE entity_key IN ({",".join("?" * len(keys[view]))})',
                [features[0], *keys[view]]).fetchall()
            where = {key: i for i, key in enumerate(keys[view])}
            feature_at = {feature: j for j, feature in enumerate(features)}
            n = len(keys[view])
            slots: list = [None] * (len(features) * n)
            seconds = {}
            for key, feature, value, stamp in found:
                j = feature_at.get(feature)
                if j is not None:
                    slots[j * n + where[key]] = value
                if stamp is not None:
                    seconds[key] = int(stamp)
            stored[view] = (slots, seconds)
        return stored

    def _redis(self, by_view: dict[str, list[str]], keys: dict[str, list[bytes]]) -> dict:
        """As ``_sqlite``: one ``HMGET`` per entity of the fields of every view it is a key of (its
        event time's, then its features'), in one pipeline; the replies transposed into columns."""
        project = self.config.project.encode()
        groups: dict[tuple[bytes, ...], list[str]] = defaultdict(list)     # views with the same keys
        for view in by_view:
            groups[tuple(keys[view])].append(view)
        fields = {key_group: [field for view in views for field in hash_fields(view, tuple(by_view[view]))]
                  for key_group, views in groups.items()}
        with self.redis.pipeline(transaction=False) as pipe:
            for key_group, wanted in fields.items():
                for key in key_group:
                    pipe.hmget(key + project, wanted)
            answers = iter(pipe.execute())
        stored = {}
        for key_group, views in groups.items():
            replies = [next(answers) for _ in key_group]
            columns = iter(zip(*replies) if replies else [()] * len(fields[key_group]))
            for view in views:
                stamps = next(columns)
                seconds = {key: Timestamp.FromString(stamp).seconds
                           for key, stamp in zip(key_group, stamps) if stamp is not None}
                stored[view] = (list(chain.from_iterable(next(columns) for _ in by_view[view])), seconds)
        return stored
