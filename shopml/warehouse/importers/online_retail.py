"""UCI Online Retail (I and II) into the canonical tables: users, items, purchase events, prices.

Both spellings of the columns are read (``InvoiceNo``/``Invoice``, ``UnitPrice``/``Price``,
``CustomerID``/``Customer ID``), from parquet or CSV. A row the platform cannot use is never
dropped silently: it lands in ``rejected_rows`` with one reason (the first that applies, in the
order of ``REJECTION_REASONS``) and its raw values as JSON. Invoice times are taken as UTC.
A user is a customer id, an item a stock code (``sku``; ``item_id`` is its dense rank), a
session an invoice. The warehouse is replaced only when the whole import succeeds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from .. import schema
from ..database import new_warehouse, record_info, row_counts, scalar

log = logging.getLogger(__name__)

SOURCE_NAME = "online-retail"
# canonical raw column -> accepted spellings, compared lower-case without spaces or underscores
COLUMN_SPELLINGS = {
    "invoice": ("invoiceno", "invoice"),
    "stock_code": ("stockcode",),
    "description": ("description",),
    "quantity": ("quantity",),
    "invoice_date": ("invoicedate",),
    "unit_price": ("unitprice", "price"),
    "customer_id": ("customerid",),
    "country": ("country",),
}
# Lines that are fees, postage or adjustments, not products.
NON_PRODUCT_CODES = ("POST", "DOT", "M", "C2", "D", "S", "B", "BANK CHARGES", "AMAZONFEE", "CRUK",
                     "PADS", "ADJUST", "ADJUST2", "TEST001", "TEST002")
DATE_FORMATS = ("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%d-%m-%Y %H:%M", "%Y/%m/%d %H:%M")
REJECTION_REASONS = (
    "unparseable_date", "cancellation", "missing_customer_id", "unparseable_quantity",
    "non_positive_quantity", "unparseable_price", "non_positive_price", "missing_stock_code",
    "non_product_line",
)


class SourceFormatError(ValueError):
    """The file is not Online Retail data in either spelling."""


@dataclass
class ImportReport:
    source: Path
    rows_read: int
    rows_accepted: int
    rejected: dict[str, int] = field(default_factory=dict)
    table_counts: dict[str, int] = field(default_factory=dict)


def _normalise(name: str) -> str:
    return name.lower().replace(" ", "").replace("_", "")


def read_file(path: Path) -> pl.DataFrame:
    """A parquet or CSV file as it is (CSV values as text); a clear error for anything else."""
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffixes = "".join(path.suffixes).lower()
    if suffixes.endswith(".parquet"):
        return pl.read_parquet(path)
    if suffixes.endswith((".csv", ".csv.gz")):
        return pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
    raise SourceFormatError(f"{path.name}: expected a .parquet or .csv file")


def read_source(path: Path) -> pl.DataFrame:
    """The file's rows with canonical column names, every value as text, plus ``row_number``."""
    frame = read_file(path)
    by_spelling = {_normalise(column): column for column in frame.columns}
    chosen, missing = {}, []
    for canonical, spellings in COLUMN_SPELLINGS.items():
        found = next((by_spelling[s] for s in spellings if s in by_spelling), None)
        if found is None:
            missing.append(f"{canonical} (one of: {', '.join(spellings)})")
        else:
            chosen[found] = canonical
    if missing:
        raise SourceFormatError(
            f"{path.name} is missing required columns: {'; '.join(missing)}. "
            f"Columns found: {', '.join(frame.columns)}"
        )
    return frame.select(
        [pl.col(source).cast(pl.String).alias(canonical) for source, canonical in chosen.items()]
    ).with_row_index("row_number", offset=1)


PARSE_SQL = f"""
CREATE TEMP TABLE parsed AS
WITH typed AS (
    SELECT *,
        coalesce(TRY_CAST(invoice_date AS TIMESTAMP),
                 try_strptime(invoice_date, {list(DATE_FORMATS)!r})) AS ts_local,
        TRY_CAST(quantity AS DOUBLE) AS qty,
        TRY_CAST(unit_price AS DOUBLE) AS price,
        TRY_CAST(TRY_CAST(customer_id AS DOUBLE) AS BIGINT) AS customer,
        upper(trim(stock_code)) AS sku
    FROM source_rows
)
SELECT *, CASE
    WHEN ts_local IS NULL THEN 'unparseable_date'
    WHEN upper(trim(invoice)) LIKE 'C%' THEN 'cancellation'
    WHEN customer IS NULL THEN 'missing_customer_id'
    WHEN qty IS NULL THEN 'unparseable_quantity'
    WHEN qty <= 0 THEN 'non_positive_quantity'
    WHEN price IS NULL THEN 'unparseable_price'
    WHEN price <= 0 THEN 'non_positive_price'
    WHEN sku IS NULL OR sku = '' THEN 'missing_stock_code'
    WHEN sku IN {NON_PRODUCT_CODES!r} OR sku LIKE 'GIFT\\_%' ESCAPE '\\' THEN 'non_product_line'
END AS reason
FROM typed
"""

LOAD_SQL = [
    """CREATE TEMP TABLE good AS
       SELECT *, timezone('UTC', ts_local) AS ts, dense_rank() OVER (ORDER BY sku) AS item_id,
              dense_rank() OVER (ORDER BY invoice) AS session_id
       FROM parsed WHERE reason IS NULL""",
    """INSERT INTO users
       SELECT customer, min(ts), mode(country), NULL, NULL FROM good GROUP BY customer ORDER BY customer""",
    """INSERT INTO items
       SELECT item_id, sku, mode(trim(description)), mode(trim(description)), NULL, NULL, NULL,
              median(price), min(ts)
       FROM good GROUP BY item_id, sku ORDER BY item_id""",
    """INSERT INTO events
       SELECT row_number() OVER (ORDER BY ts, row_number), customer, item_id, session_id, 'purchase',
              ts, price, CAST(qty AS INTEGER)
       FROM good ORDER BY ts, row_number""",
    """INSERT INTO prices
       SELECT item_id, CAST(ts AS DATE), median(price), false FROM good GROUP BY 1, 2 ORDER BY 1, 2""",
]


def ingest_online_retail(path: Path, warehouse: Path) -> ImportReport:
    """Import ``path`` into a new warehouse at ``warehouse`` (replacing it only on success)."""
    source = read_source(path)
    with new_warehouse(warehouse, with_truth=False) as con:
        con.register("source_rows", source.to_arrow())
        con.execute(PARSE_SQL)
        con.execute(
            f"""INSERT INTO {schema.REJECTED_ROWS.name}
                SELECT ?, row_number, reason,
                       to_json(struct_pack(invoice, stock_code, description, quantity,
                                           invoice_date, unit_price, customer_id, country))::VARCHAR
                FROM parsed WHERE reason IS NOT NULL ORDER BY row_number""",
            [path.name],
        )
        accepted = scalar(con, "SELECT count(*) FROM parsed WHERE reason IS NULL")
        if accepted == 0:
            raise SourceFormatError(f"{path.name}: no usable rows (every row was rejected)")
        for statement in LOAD_SQL:
            con.execute(statement)
        record_info(con, SOURCE_NAME, {"path": str(path.resolve()), "rows": source.height})
        rejected = dict(con.execute(
            "SELECT reason, count(*) FROM parsed WHERE reason IS NOT NULL GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall())
        counts = row_counts(con, (schema.USERS, schema.ITEMS, schema.EVENTS, schema.PRICES, schema.REJECTED_ROWS))
    log.info("imported %s: %d rows accepted, %d rejected", path.name, accepted, sum(rejected.values()))
    return ImportReport(source=path, rows_read=source.height, rows_accepted=accepted,
                        rejected=rejected, table_counts=counts)
