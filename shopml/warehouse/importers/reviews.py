"""Product reviews from any CSV or parquet file into the ``reviews`` table. The caller names the
text, rating, item and time columns (and optionally the user column).

Into a home without a warehouse, a new one is made from the reviews alone: an item per distinct
item key (its ``sku``), a user per distinct user key. Into an existing warehouse the reviews are
added after its own, each linked to the item whose ``sku`` is its key and to the user whose id
is its user key; a review of an unknown item is rejected. Either way a row the platform cannot
use is never dropped silently: it lands in ``rejected_rows`` with the first reason that applies
(``REJECTION_REASONS``) and its raw values, and nothing is written unless the whole import succeeds.
Times without a zone are taken as UTC.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from .. import schema
from ..database import new_warehouse, record_info, row_counts, scalar
from .online_retail import ImportReport, SourceFormatError, read_file

log = logging.getLogger(__name__)

SOURCE_NAME = "reviews"
REJECTION_REASONS = ("missing_text", "unparseable_rating", "rating_out_of_range", "missing_item",
                     "unparseable_time", "unknown_item")


@dataclass(frozen=True)
class ReviewColumns:
    text: str = "text"
    rating: str = "rating"
    item: str = "item_id"
    time: str = "ts"
    user: str | None = None


def read_reviews(path: Path, columns: ReviewColumns) -> pl.DataFrame:
    """The file's named columns as text (text, rating, item, time, user), plus ``row_number``."""
    frame = read_file(path)
    wanted = {"text": columns.text, "rating": columns.rating, "item": columns.item, "time": columns.time,
              "user": columns.user}
    missing = [f"{role} ({column})" for role, column in wanted.items() if column is not None and column not in frame.columns]
    if missing:
        raise SourceFormatError(f"{path.name} is missing the columns named for: {', '.join(missing)}. "
                                f"Columns found: {', '.join(frame.columns)}")
    return frame.select([pl.col(column).cast(pl.String).alias(role) if column else pl.lit(None, pl.String).alias(role)
                         for role, column in wanted.items()]).with_row_index("row_number", offset=1)


PARSE_SQL = """
CREATE TEMP TABLE parsed AS
WITH typed AS (
    SELECT *, trim(text) AS clean_text, TRY_CAST(trim(rating) AS DOUBLE) AS stars, nullif(trim(item), '') AS item_key,
           coalesce(TRY_CAST(time AS TIMESTAMPTZ), to_timestamp(TRY_CAST(time AS DOUBLE))) AS review_ts,
           TRY_CAST(TRY_CAST(user AS DOUBLE) AS BIGINT) AS user_key
    FROM source_rows)
SELECT *, CASE
    WHEN clean_text IS NULL OR clean_text = '' THEN 'missing_text'
    WHEN stars IS NULL THEN 'unparseable_rating'
    WHEN stars NOT IN (1, 2, 3, 4, 5) THEN 'rating_out_of_range'
    WHEN item_key IS NULL THEN 'missing_item'
    WHEN review_ts IS NULL THEN 'unparseable_time'
    WHEN {catalogue} AND item_key NOT IN (SELECT sku FROM items WHERE sku IS NOT NULL) THEN 'unknown_item'
END AS reason
FROM typed"""

NEW_CATALOGUE_SQL = [
    """INSERT INTO items SELECT dense_rank() OVER (ORDER BY item_key), item_key, NULL, NULL, NULL, NULL, NULL, NULL,
                                min(review_ts)
       FROM parsed WHERE reason IS NULL GROUP BY item_key ORDER BY item_key""",
    """INSERT INTO users SELECT user_key, min(review_ts), NULL, NULL, NULL
       FROM parsed WHERE reason IS NULL AND user_key IS NOT NULL GROUP BY user_key ORDER BY user_key""",
]
INSERT_REVIEWS_SQL = """
INSERT INTO reviews
SELECT (SELECT coalesce(max(review_id), 0) FROM reviews) + row_number() OVER (ORDER BY p.review_ts, p.row_number),
       u.user_id, i.item_id, p.review_ts, CAST(p.stars AS INTEGER), p.clean_text
FROM parsed p JOIN items i ON i.sku = p.item_key LEFT JOIN users u ON u.user_id = p.user_key
WHERE p.reason IS NULL ORDER BY p.review_ts, p.row_number"""


def _load(con: duckdb.DuckDBPyConnection, source: pl.DataFrame, path: Path, into_catalogue: bool) -> tuple[int, dict]:
    con.register("source_rows", source.to_arrow())
    con.execute(PARSE_SQL.format(catalogue="true" if into_catalogue else "false"))
    con.execute(f"""INSERT INTO {schema.REJECTED_ROWS.name}
                    SELECT ?, row_number, reason, to_json(struct_pack(text, rating, item, time, user))::VARCHAR
                    FROM parsed WHERE reason IS NOT NULL ORDER BY row_number""", [path.name])
    accepted = scalar(con, "SELECT count(*) FROM parsed WHERE reason IS NULL")
    if accepted == 0:
        raise SourceFormatError(f"{path.name}: no usable rows (every row was rejected)")
    if not into_catalogue:
        for statement in NEW_CATALOGUE_SQL:
            con.execute(statement)
    con.execute(INSERT_REVIEWS_SQL)
    rejected = dict(con.execute("SELECT reason, count(*) FROM parsed WHERE reason IS NOT NULL GROUP BY 1 ORDER BY 2 DESC")
                    .fetchall())
    return accepted, rejected


def ingest_reviews(path: Path, warehouse: Path, columns: ReviewColumns) -> ImportReport:
    """Import the reviews of ``path`` into ``warehouse`` (a new one when there is none)."""
    source = read_reviews(path, columns)
    if warehouse.is_file():
        con = duckdb.connect(str(warehouse))
        try:
            con.execute("BEGIN TRANSACTION")
            accepted, rejected = _load(con, source, path, into_catalogue=True)
            counts = row_counts(con, (schema.REVIEWS, schema.REJECTED_ROWS))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.close()
    else:
        with new_warehouse(warehouse, with_truth=False) as con:
            accepted, rejected = _load(con, source, path, into_catalogue=False)
            record_info(con, SOURCE_NAME, {"path": str(path.resolve()), "rows": source.height})
            counts = row_counts(con, (schema.USERS, schema.ITEMS, schema.REVIEWS, schema.REJECTED_ROWS))
    log.info("imported %s: %d reviews accepted, %d rejected", path.name, accepted, sum(rejected.values()))
    return ImportReport(source=path, rows_read=source.height, rows_accepted=accepted, rejected=rejected,
                        table_counts=counts)
