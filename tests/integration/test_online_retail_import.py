"""The Online Retail importer: both spellings, every kind of bad row, all-or-nothing writes."""

import shutil

import duckdb
import polars as pl
import pytest

from shopml.warehouse.importers.online_retail import SourceFormatError, ingest_online_retail
from tests.conftest import DATASETS, rows, value

SPELLING_I = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]
SPELLING_II = ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price", "Customer ID", "Country"]

# (invoice, stock code, description, quantity, date, unit price, customer, country, expected reason)
LINES = [
    ("536365", "85123A", "WHITE HANGING HEART", "6", "12/1/2010 8:26", "2.55", "17850.0", "United Kingdom", None),
    ("536365", "71053", "WHITE METAL LANTERN", "6", "12/1/2010 8:26", "3.39", "17850.0", "United Kingdom", None),
    ("536366", "85123A", "WHITE HANGING HEART", "2", "2010-12-02 09:00:00", "2.75", "13047", "France", None),
    ("536367", "71053", "WHITE METAL LANTERN", "1", "12/3/2010 10:15", "3.39", "13047", "France", None),
    ("C536379", "85123A", "WHITE HANGING HEART", "-1", "12/1/2010 9:41", "2.55", "14527", "United Kingdom", "cancellation"),
    ("536380", "22086", "PAPER CHAIN KIT", "4", "12/1/2010 9:45", "2.95", "", "United Kingdom", "missing_customer_id"),
    ("536381", "22086", "PAPER CHAIN KIT", "0", "12/1/2010 9:46", "2.95", "15311", "United Kingdom", "non_positive_quantity"),
    ("536382", "22086", "PAPER CHAIN KIT", "-3", "12/1/2010 9:47", "2.95", "15311", "United Kingdom", "non_positive_quantity"),
    ("536383", "22086", "PAPER CHAIN KIT", "3", "12/1/2010 9:48", "0", "15311", "United Kingdom", "non_positive_price"),
    ("536384", "22086", "PAPER CHAIN KIT", "3", "12/1/2010 9:49", "-11.06", "15311", "United Kingdom", "non_positive_price"),
    ("536385", "22086", "PAPER CHAIN KIT", "3", "not a date", "2.95", "15311", "United Kingdom", "unparseable_date"),
    ("536386", "22086", "PAPER CHAIN KIT", "three", "12/1/2010 9:50", "2.95", "15311", "United Kingdom", "unparseable_quantity"),
    ("536387", "22086", "PAPER CHAIN KIT", "3", "12/1/2010 9:51", "abc", "15311", "United Kingdom", "unparseable_price"),
    ("536388", "", "NO CODE", "3", "12/1/2010 9:52", "2.95", "15311", "United Kingdom", "missing_stock_code"),
    ("536389", "POST", "POSTAGE", "1", "12/1/2010 9:53", "18.0", "15311", "United Kingdom", "non_product_line"),
]


def write_source(path, spelling, lines=LINES):
    data = {column: [line[i] for line in lines] for i, column in enumerate(spelling)}
    frame = pl.DataFrame(data)
    if path.suffix == ".parquet":
        frame.write_parquet(path)
    else:
        frame.write_csv(path)
    return path


@pytest.mark.parametrize("spelling,suffix", [(SPELLING_I, ".csv"), (SPELLING_II, ".parquet")])
def test_every_bad_row_is_kept_with_its_reason(tmp_path, spelling, suffix):
    warehouse = tmp_path / "warehouse.duckdb"
    report = ingest_online_retail(write_source(tmp_path / f"retail{suffix}", spelling), warehouse)
    expected = {n + 1: reason for n, (*_, reason) in enumerate(LINES) if reason}
    assert report.rows_read == len(LINES)
    assert report.rows_accepted == len(LINES) - len(expected)
    assert sum(report.rejected.values()) == len(expected)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert dict(rows(con, "SELECT row_number, reason FROM rejected_rows")) == expected
        assert "PAPER CHAIN KIT" in value(con, "SELECT raw FROM rejected_rows WHERE row_number = 6")


def test_accepted_rows_become_users_items_events_and_prices(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    ingest_online_retail(write_source(tmp_path / "retail.csv", SPELLING_I), warehouse)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        assert rows(con, "SELECT user_id, country FROM users ORDER BY 1") == [(13047, "France"), (17850, "United Kingdom")]
        assert rows(con, "SELECT sku, title, base_price FROM items ORDER BY sku") == [
            ("71053", "WHITE METAL LANTERN", 3.39), ("85123A", "WHITE HANGING HEART", 2.65)]
        events = rows(con, "SELECT user_id, event_type, quantity, price, strftime(ts, '%Y-%m-%d %H:%M') "
                           "FROM events ORDER BY event_id")
        assert events == [
            (17850, "purchase", 6, 2.55, "2010-12-01 08:26"), (17850, "purchase", 6, 3.39, "2010-12-01 08:26"),
            (13047, "purchase", 2, 2.75, "2010-12-02 09:00"), (13047, "purchase", 1, 3.39, "2010-12-03 10:15")]
        assert value(con, "SELECT count(DISTINCT session_id) FROM events") == 3      # one per invoice
        assert value(con, "SELECT count(*) FROM prices") == 4
        assert value(con, "SELECT source FROM warehouse_info") == "online-retail"


def test_both_spellings_give_identical_tables(tmp_path):
    tables = []
    for name, spelling in (("one", SPELLING_I), ("two", SPELLING_II)):
        warehouse = tmp_path / f"{name}.duckdb"
        ingest_online_retail(write_source(tmp_path / f"{name}.parquet", spelling), warehouse)
        with duckdb.connect(str(warehouse), read_only=True) as con:
            tables.append([rows(con, f"SELECT * FROM {t} ORDER BY ALL") for t in ("users", "items", "events", "prices")])
    assert tables[0] == tables[1]


def test_wrong_columns_fail_clearly_and_leave_the_old_warehouse(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    ingest_online_retail(write_source(tmp_path / "good.csv", SPELLING_I), warehouse)
    before = warehouse.read_bytes()
    broken = ["InvoiceNo", "StockCode", "Description", "Qty", "InvoiceDate", "UnitPrice", "Cust", "Country"]
    with pytest.raises(SourceFormatError, match=r"missing required columns: quantity .*customer_id"):
        ingest_online_retail(write_source(tmp_path / "bad.csv", broken), warehouse)
    assert warehouse.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "good.csv", "warehouse.duckdb"]


def test_a_file_with_no_usable_row_writes_nothing(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    bad_only = [line for line in LINES if line[-1]]
    with pytest.raises(SourceFormatError, match="no usable rows"):
        ingest_online_retail(write_source(tmp_path / "bad.csv", SPELLING_I, bad_only), warehouse)
    assert list(tmp_path.iterdir()) == [tmp_path / "bad.csv"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["online_retail_I_2010-12_2011-12.parquet",
                                  "online_retail_II_sheet_2009-2010.parquet"])
def test_the_real_files_import_with_every_row_accounted_for(tmp_path, name):
    source = DATASETS / "uci_online_retail" / name
    if not source.is_file():
        pytest.skip(f"shared dataset not present at {source}")
    local = tmp_path / name
    shutil.copy(source, local)
    report = ingest_online_retail(local, tmp_path / "warehouse.duckdb")
    assert report.rows_accepted + sum(report.rejected.values()) == report.rows_read > 500_000
    assert {"cancellation", "missing_customer_id"} <= set(report.rejected)
    assert report.table_counts["users"] > 4_000 and report.table_counts["events"] == report.rows_accepted
