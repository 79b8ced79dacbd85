"""What a warehouse holds: row counts per table, the time span of its events, a sample of each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from . import schema
from .database import connect, has_truth, row_counts

SAMPLE_ROWS = 3


@dataclass
class WarehouseSummary:
    path: Path
    source: str
    first_event: datetime | None
    last_event: datetime | None
    row_counts: dict[str, int]
    samples: dict[str, pl.DataFrame]
    has_truth: bool


def summarize(path: Path, sample_rows: int = SAMPLE_ROWS) -> WarehouseSummary:
    with connect(path) as con:
        info = con.execute(f"SELECT source, start_ts, end_ts FROM {schema.WAREHOUSE_INFO.name}").fetchall()
        source, first, last = info[0] if info else ("unknown", None, None)
        tables = schema.CANONICAL_TABLES + (schema.REJECTED_ROWS,)
        counts = row_counts(con, tables)
        samples = {
            t.name: con.sql(f"SELECT * FROM {t.name} USING SAMPLE {sample_rows} ROWS (reservoir, 42)").pl()
            for t in tables if counts[t.name] > 0
        }
        truth = has_truth(con)
    return WarehouseSummary(path=path, source=source, first_event=first, last_event=last,
                            row_counts=counts, samples=samples, has_truth=truth)
