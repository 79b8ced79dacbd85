"""The next-item task on the tiny shop: its sequences stop at the cut-off, its targets are the first
purchase after it, training never reads a validation or test week, and the evaluation ranks the
model beside popularity, co-occurrence and the taste oracle."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from shopml.settings import Settings
from tests.conftest import tiny_shop_home
from training.item_sequences import ItemIndex
from training.tasks.next_item import (CO_OCCURRENCE, MODEL, ORACLE, POPULARITY, TABLE, NextItemConfig,
                                      NextItemTask)

CONFIG = NextItemConfig(dimension=16, layers=1, heads=1, max_length=10, max_epochs=2, use_text=False)


@pytest.fixture(scope="module")
def home(tiny_warehouse, tmp_path_factory) -> Settings:
    return tiny_shop_home(tiny_warehouse, tmp_path_factory, "next_item_home")


@pytest.fixture(scope="module")
def data(home):
    return NextItemTask().build_dataset(CONFIG, home)


def test_targets_are_the_first_purchase_after_the_cutoff_and_inputs_end_before_it(data, tiny_warehouse):
    index = ItemIndex(data.item_ids)
    with duckdb.connect(str(tiny_warehouse), read_only=True) as con:
        for split, weeks in data.splits.items():
            for week in weeks:
                assert len(week.users) > 0, split
                first = dict(con.execute(
                    "SELECT user_id, arg_min(item_id, ts) FROM events WHERE event_type = 'purchase' "
                    "AND ts >= ? AND ts < ? + INTERVAL 7 DAY GROUP BY user_id", [week.cutoff, week.cutoff]).fetchall())
                assert index.of([first[u] for u in week.users]).tolist() == week.histories.targets.tolist()
                last = dict(con.execute(
                    "SELECT user_id, arg_max(item_id, ts) FROM events WHERE event_type IN ('view', 'cart', "
                    "'purchase') AND ts < ? GROUP BY user_id", [week.cutoff]).fetchall())
                assert [s[-1] for s in week.histories.inputs] == index.of([last[u] for u in week.users]).tolist()


def test_training_reads_nothing_from_the_validation_or_test_weeks(data, tiny_warehouse):
    cutoff = data.splits["validation"][0].cutoff
    with duckdb.connect(str(tiny_warehouse), read_only=True) as con:
        before = con.execute("SELECT count(*) FROM events WHERE event_type IN ('view', 'cart', 'purchase') "
                             "AND ts < ?", [cutoff]).fetchall()[0][0]
    assert sum(len(s) for s in data.train) <= before
    assert all(len(s) >= 2 for s in data.train)
    assert [w.cutoff for w in data.splits["validation"]] < [w.cutoff for w in data.splits["test"]]


def test_the_evaluation_ranks_every_system_and_the_oracle_leads(home, data):
    task = NextItemTask()
    model = task.train(CONFIG, data)
    rows = task.evaluate(CONFIG, model, data, home).tables[TABLE]
    assert set(rows) == {MODEL, POPULARITY, CO_OCCURRENCE, ORACLE}
    assert rows[ORACLE]["ndcg_at_10"] > rows[POPULARITY]["ndcg_at_10"]
    assert rows[ORACLE]["share_of_oracle_ndcg"] == 1.0
    assert all(0 <= row["hr_at_10"] <= 1 and row["users"] == rows[MODEL]["users"] for row in rows.values())
    assert np.isfinite(model.scores(data.histories("test").inputs[:3])[:, 1:]).all()
