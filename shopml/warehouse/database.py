"""Opening the warehouse, and writing a new one all-or-nothing.

A warehouse is replaced only once it is complete: writers build into a temporary file beside the
target and move it into place at the end, so a failed simulation or import leaves the previous
warehouse (or no warehouse) behind, never a half-written one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import psutil

from . import schema


# DuckDB takes 80 % of the machine's memory by default, which leaves too little beside the Python
# frames of a large job; every shopml connection asks for less and spills to disk instead.
MEMORY_ENV_VAR = "SHOPML_DUCKDB_MEMORY"     # e.g. "8GB"; default: half of physical memory


def memory_limit() -> str:
    return os.environ.get(MEMORY_ENV_VAR) or f"{psutil.virtual_memory().total // 2**21}MB"


def limit_memory(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    con.execute(f"SET memory_limit = '{memory_limit()}'")
    return con


class WarehouseMissingError(FileNotFoundError):
    """Raised when a command needs a warehouse that has not been built yet."""


def connect(path: Path, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    if not path.is_file():
        raise WarehouseMissingError(
            f"no warehouse at {path}: run `shopml simulate` or `shopml ingest` first"
        )
    con = limit_memory(duckdb.connect(str(path), read_only=read_only))
    con.execute("SET TimeZone = 'UTC'")
    return con


def scalar(con: duckdb.DuckDBPyConnection, query: str, params: list | None = None):
    """The single value a query returns. (DuckDB 2 keeps a result open after ``fetchone()``
    and then refuses ``con.sql``; ``fetchall()`` closes it.)"""
    return con.execute(query, params or []).fetchall()[0][0]


def has_truth(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the warehouse holds a simulator's ``truth`` schema (imported data does not)."""
    return scalar(con, "SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?",
                  [schema.TRUTH_SCHEMA]) > 0


def row_counts(con: duckdb.DuckDBPyConnection, tables) -> dict[str, int]:
    return {table.qualified: scalar(con, f"SELECT count(*) FROM {table.qualified}") for table in tables}


def create_schema(con: duckdb.DuckDBPyConnection, with_truth: bool) -> None:
    for table in schema.CANONICAL_TABLES + (schema.REJECTED_ROWS, schema.WAREHOUSE_INFO):
        con.execute(table.ddl())
    if with_truth:
        con.execute(f"CREATE SCHEMA {schema.TRUTH_SCHEMA}")
        for table in schema.TRUTH_TABLES:
            con.execute(table.ddl())
        con.execute(schema.SEARCH_RELEVANCE_VIEW)


def record_info(con: duckdb.DuckDBPyConnection, source: str, parameters: dict) -> None:
    """Stamp the warehouse with its source and the time span its events cover."""
    con.execute(
        f"""INSERT INTO {schema.WAREHOUSE_INFO.name}
            SELECT ?, ?, ?, min(ts), max(ts) FROM {schema.EVENTS.name}""",
        [source, datetime.now(timezone.utc), json.dumps(parameters, default=str)],
    )


@contextmanager
def new_warehouse(path: Path, with_truth: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    """Yield a connection to an empty warehouse that replaces ``path`` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.building")
    staging.unlink(missing_ok=True)
    con = limit_memory(duckdb.connect(str(staging)))
    try:
        con.execute("SET TimeZone = 'UTC'")
        create_schema(con, with_truth)
        yield con
        con.execute("CHECKPOINT")
        con.close()
        os.replace(staging, path)
    except BaseException:
        con.close()
        staging.unlink(missing_ok=True)
        Path(f"{staging}.wal").unlink(missing_ok=True)
        raise
