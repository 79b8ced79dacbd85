"""Feast's online encodings, a whole column at a time: entity keys, feature values and event
timestamps as the bytes Feast's own materialisation writes, for ``feature_repo.online_load``.

Stock Feast builds one protobuf message per value in Python (about half of its time on the demo
shop). Here a column becomes a ``Ragged`` (n byte strings as a zero-padded matrix and each row's
length) in NumPy: numbers and float vectors as their raw little-endian bytes behind the prefix
protobuf writes for them, every other type and every string key by encoding each distinct value
once with Feast's own functions. A row of a store is a list of parts (``Parts``: constant bytes
or a Ragged) joined row by row in one NumPy step. ``check_sample`` compares the first rows with
Feast's encoding of the same values, so a Feast upgrade that changed an encoding fails loudly
instead of writing other bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType
from google.protobuf.timestamp_pb2 import Timestamp

SAMPLE_ROWS = 64                                  # rows of each column checked against Feast's encoding
KEY_VERSION = 3                                   # entity_key_serialization_version (feature_store.yaml)
SCALARS = {ValueType.DOUBLE: (b"\x29", "<f8"),    # Value.double_val: field 5, fixed64
           ValueType.FLOAT: (b"\x35", "<f4")}     # Value.float_val: field 6, fixed32
VECTORS = {ValueType.FLOAT_LIST: "<f4", ValueType.DOUBLE_LIST: "<f8"}
INTEGER_KEYS = {ValueType.INT64: "<i8", ValueType.INT32: "<i4"}
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass
class Ragged:
    """n byte strings: row i is ``data[i, :lengths[i]]``."""

    data: np.ndarray       # uint8 (n, width), zero past each row's length
    lengths: np.ndarray    # int64 (n,)

    @classmethod
    def gather(cls, distinct: list[bytes], codes: np.ndarray) -> Ragged:
        """Row i is ``distinct[codes[i]]``."""
        table = np.zeros((len(distinct), max(map(len, distinct), default=0)), np.uint8)
        for row, value in enumerate(distinct):
            table[row, :len(value)] = np.frombuffer(value, np.uint8)
        return cls(table[codes], np.array([len(b) for b in distinct], np.int64)[codes])

    @classmethod
    def prefixed(cls, prefix: bytes, raw: np.ndarray, present: np.ndarray | None = None, absent: bytes = b"") -> Ragged:
        """Row i is ``prefix + raw[i]`` where ``present[i]`` (default: every row), else ``absent``."""
        n, width = len(raw), len(prefix) + raw.shape[1]
        data = np.empty((n, max(width, len(absent))), np.uint8)
        data[:, :len(prefix)] = np.frombuffer(prefix, np.uint8)
        data[:, len(prefix):width] = raw
        lengths = np.full(n, width, np.int64)
        if present is not None and not present.all():
            data[~present] = 0
            data[~present, :len(absent)] = np.frombuffer(absent, np.uint8)
            lengths[~present] = len(absent)
        return cls(data, lengths)

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def full(self) -> bool:
        """Every row as long as the matrix is wide (no padding to skip)."""
        return len(self.lengths) == 0 or int(self.lengths.min()) == self.data.shape[1]

    def head(self, rows: int) -> Ragged:
        return Ragged(self.data[:rows], self.lengths[:rows])

    def mask(self) -> np.ndarray:
        return np.arange(self.data.shape[1]) < self.lengths[:, None]


Parts = list  # of bytes (the same in every row) and Ragged (one string per row), joined row by row


def joined(parts: Parts, rows: int) -> tuple[bytes, np.ndarray]:
    """Row 0 of every part, then row 1, ...: the bytes and each row's length. Where every row is
    as long as every other (no nulls, keys of one length) the matrix is the answer as it is."""
    widths = [len(part) if isinstance(part, bytes) else part.data.shape[1] for part in parts]
    data = np.empty((rows, sum(widths)), np.uint8)
    full = all(isinstance(part, bytes) or part.full for part in parts)
    mask = None if full else np.ones(data.shape, bool)
    lengths = np.zeros(rows, np.int64)
    start = 0
    for part, width in zip(parts, widths):
        if isinstance(part, bytes):
            data[:, start:start + width] = np.frombuffer(part, np.uint8)
            lengths += width
        else:
            data[:, start:start + width] = part.data
            lengths += part.lengths
            if mask is not None and not part.full:
                mask[:, start:start + width] = part.mask()
        start += width
    return (data.tobytes() if full else data[mask].tobytes()), lengths


def split(parts: Parts, rows: int) -> list[bytes]:
    """Each row's bytes."""
    flat, lengths = joined(parts, rows)
    ends = np.cumsum(lengths).tolist()
    return [flat[start:end] for start, end in zip([0, *ends[:-1]], ends)]


def feast_encoded(values, value_type: ValueType) -> list[bytes]:
    """Feast's own encoding of each value (what stock materialisation writes)."""
    return [proto.SerializeToString() for proto in python_values_to_proto_values(values, value_type)]


def _by_distinct(values: np.ndarray, value_type: ValueType) -> Ragged:
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    representatives = list(distinct)
    if (codes < 0).any():
        representatives.append(values[int(np.argmax(codes < 0))])
        codes = np.where(codes < 0, len(representatives) - 1, codes)
    return Ragged.gather(feast_encoded(np.array(representatives, dtype=values.dtype), value_type), codes)


def _each(column: pa.ChunkedArray, value_type: ValueType) -> Ragged:
    encoded = feast_encoded(column.to_numpy(zero_copy_only=False), value_type)
    return Ragged.gather(encoded, np.arange(len(encoded)))


def _vectors(column: pa.ChunkedArray, value_type: ValueType) -> Ragged:
    """Value.float_list_val / double_list_val: a prefix that depends only on the length, then the
    packed values. A column of one vector length (every embedding) is encoded at once."""
    column = column.combine_chunks()
    present = ~column.is_null().to_numpy(zero_copy_only=False)
    sizes = set(column.value_lengths().drop_null().to_pylist())
    if len(sizes) > 1:
        return _each(column, value_type)
    size, dtype = (sizes.pop() if sizes else 0), np.dtype(VECTORS[value_type])
    raw = np.zeros((len(column), size * dtype.itemsize), np.uint8)
    if size:
        flat = column.drop_null().flatten().to_numpy(zero_copy_only=False).astype(dtype)
        raw[present] = flat.view(np.uint8).reshape(-1, raw.shape[1])
    zeros, null = feast_encoded(np.array([np.zeros(size, dtype), None], dtype=object), value_type)
    return Ragged.prefixed(zeros[:len(zeros) - raw.shape[1]], raw, present, absent=null)


def encode_values(column: pa.ChunkedArray, value_type: ValueType) -> Ragged:
    """Each value of a feature column as Feast's serialised ``Value`` (b"" for a null or a NaN)."""
    if value_type in SCALARS:
        tag, dtype = SCALARS[value_type]
        values = column.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(dtype)
        return Ragged.prefixed(tag, values.view(np.uint8).reshape(len(values), -1), ~np.isnan(values))
    if value_type in VECTORS:
        return _vectors(column, value_type)
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        return _each(column, value_type)
    return _by_distinct(column.to_numpy(zero_copy_only=False), value_type)


def _key_part(name: str, value, value_type: ValueType) -> bytes:
    """What one join key's value adds to a serialised entity key: Feast's key of that key alone,
    less its count and name (``serialize_entity_key``: count, sorted names, then the values)."""
    proto = python_values_to_proto_values(np.array([value], dtype=object), value_type)[0]
    whole = serialize_entity_key(EntityKey(join_keys=[name], entity_values=[proto]), KEY_VERSION)
    return whole[4 + 8 + len(name.encode()):]


def encode_entity_keys(table: pa.Table, join_keys: dict[str, ValueType]) -> Parts:
    """Each row's entity key as Feast serialises it (version 3), as parts."""
    names = sorted(join_keys)
    parts: Parts = [struct.pack("<I", len(names)) + b"".join(
        struct.pack("<II", ValueType.STRING.value, len(name.encode())) + name.encode() for name in names)]
    for name in names:
        column = table.column(name)
        if column.null_count:
            raise ValueError(f"null {name} in a feature table: an entity key cannot be null")
        integer = INTEGER_KEYS.get(join_keys[name])
        if integer is None:
            codes, distinct = pd.factorize(column.to_numpy(zero_copy_only=False))
            parts.append(Ragged.gather([_key_part(name, value, join_keys[name]) for value in distinct], codes))
            continue
        raw = column.to_numpy().astype(integer).view(np.uint8).reshape(len(column), -1)
        parts.append(_key_part(name, 0, join_keys[name])[:-raw.shape[1]])   # type and length, then the value
        parts.append(Ragged.prefixed(b"", raw))
    return parts


def feast_entity_keys(table: pa.Table, join_keys: dict[str, ValueType], rows: int) -> list[bytes]:
    """Feast's own serialisation of the first rows' entity keys."""
    names = list(join_keys)
    values = {name: python_values_to_proto_values(table.column(name).slice(0, rows).to_numpy(zero_copy_only=False),
                                                  join_keys[name]) for name in names}
    return [serialize_entity_key(EntityKey(join_keys=names, entity_values=[values[name][row] for name in names]),
                                 KEY_VERSION) for row in range(min(rows, table.num_rows))]


def event_times(micros: np.ndarray) -> tuple[np.ndarray, list[datetime]]:
    """Each row's index into the distinct event times, and those times (UTC)."""
    codes, distinct = pd.factorize(micros)
    return codes, [EPOCH + timedelta(microseconds=int(us)) for us in distinct]


def timestamp_proto(moment: datetime) -> bytes:
    """The event time as the Redis store keeps it (``_ts:<view>``): a serialised ``Timestamp``."""
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp.SerializeToString()


def check_sample(ours: list[bytes], feasts: list[bytes], what: str) -> None:
    """Fail when our encoding of the first rows is not Feast's."""
    for row, (mine, expected) in enumerate(zip(ours, feasts)):
        if mine != expected:
            raise AssertionError(f"{what}: row {row} encodes as {mine!r}, Feast writes {expected!r}; "
                                 "load with `shopml features materialize --stock`")
