"""Turning NumPy columns into Arrow tables typed exactly as a warehouse table's DDL says."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .schema import Table

ARROW_TYPES = {
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "DOUBLE": pa.float64(),
    "FLOAT": pa.float32(),
    "BOOLEAN": pa.bool_(),
    "VARCHAR": pa.string(),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),   # values: microseconds since the epoch
    "DATE": pa.date32(),                             # values: days since the epoch
    "DOUBLE[]": pa.list_(pa.float64()),
}


def to_arrow(table: Table, columns: dict[str, np.ndarray | list]) -> pa.Table:
    """An Arrow table with ``table``'s columns in order; a missing column is all null."""
    length = len(next(iter(columns.values())))
    arrays = []
    for name, sql_type in table.columns:
        arrow_type = ARROW_TYPES[sql_type]
        values = columns.get(name)
        if values is None:
            arrays.append(pa.nulls(length, arrow_type))
        elif pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
            storage = pa.int64() if pa.types.is_timestamp(arrow_type) else pa.int32()
            arrays.append(pa.array(np.asarray(values), type=storage).cast(arrow_type))
        else:
            arrays.append(pa.array(values, type=arrow_type, from_pandas=True))
    return pa.Table.from_arrays(arrays, names=list(table.column_names))
