"""The display-order task on the tiny shop: its rows are what the pages showed and what was
clicked, each split's pages end before the next split begins, the exploration slice is split
alike, and the test table judges the ranker beside popularity, the engine's order and the oracle."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from training.labels import CUTOFF
from training.tasks.display_order import (
    CHOICES, LABEL, LOGGED, MODEL, ORACLE, PAGE_ID, POPULARITY, SLOTS, TABLE, DisplayOrderConfig, DisplayOrderTask,
)

CONFIG = DisplayOrderConfig(weeks=6, min_explored_pages=40, max_rounds=60)


@pytest.fixture(scope="module")
def data(model_home):
    return DisplayOrderTask().build_dataset(CONFIG, model_home)


def test_rows_are_the_shown_items_and_their_clicks(data, tiny_warehouse):
    rows = pl.concat([data.logs.shown["train"], data.test], how="diagonal_relaxed")
    with duckdb.connect(str(tiny_warehouse), read_only=True) as con:
        logged = con.sql("SELECT page_id, item_id, position, clicked FROM page_impressions").pl()
    joined = rows.join(logged, on=[PAGE_ID, "item_id"], how="left", suffix="_logged")
    assert joined["position_logged"].null_count() == 0
    assert (joined["position"] == joined["position_logged"]).all()
    assert (joined[LABEL] == joined["clicked_logged"].cast(pl.Int32)).all()
    assert rows.group_by(PAGE_ID).len()["len"].max() == 20 and rows[LABEL].sum() > 0


def test_each_split_ends_before_the_next_begins_and_the_slice_is_split_alike(data):
    shown, explored = data.logs.shown, data.logs.explored
    assert explored, "the tiny shop has enough explored pages for the slice"
    first_validation, first_test = shown["validation"][CUTOFF].min(), data.test[CUTOFF].min()
    for frames in (shown, explored):
        assert frames["train"]["event_timestamp"].max() < first_validation
        assert frames["validation"][CUTOFF].min() >= first_validation
        assert frames["validation"]["event_timestamp"].max() < first_test
    assert not set(shown["train"][PAGE_ID]) & set(shown["validation"][PAGE_ID])


def test_the_test_table_puts_every_order_beside_the_oracle(data, model_home):
    task = DisplayOrderTask()
    model = task.train(CONFIG, data)
    chosen = task.choose(CONFIG, model, data, model_home)
    tables = task.evaluate(chosen, model, data, model_home).tables
    assert set(tables[CHOICES]) == set(model) and sum(row["chosen"] for row in tables[CHOICES].values()) == 1
    table = tables[TABLE]
    assert set(table) == {MODEL, POPULARITY, LOGGED, ORACLE}
    best = table[ORACLE][f"clicks_at_{SLOTS}"]
    assert table[ORACLE]["share_of_oracle"] == 1.0
    assert all(0 < row[f"clicks_at_{SLOTS}"] <= best for row in table.values())
