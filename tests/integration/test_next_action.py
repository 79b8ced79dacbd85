"""The next-action task on the tiny shop: every step of a sampled session is a row, labelled by
the next navigation event (or leave), with features as of the step and none of the session's
future; the truth's probabilities are proper and agree with what sessions did; the evaluation
puts the model beside the population's step probabilities and the oracle."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import duckdb
import numpy as np
import polars as pl
import pytest

from feature_repo.definitions import names
from shopml.settings import Settings
from training.evaluation import BASELINE, MODEL, ORACLE
from training import next_category as category
from training.session_steps import (ACTIONS, GAP, LAST_ACTION, LAST_VIEW_ITEM, NEXT_CATEGORY, REALTIME, SESSION_END,
                                    SESSION_VIEWS, session_inputs, shares_for, step_shares)
from training.tasks.next_action import CATEGORY_TABLE, TABLE, NextActionConfig, NextActionTask

CONFIG = NextActionConfig(weeks=4, sessions_per_week=600, max_rounds=60, category_steps=1000)


@pytest.fixture(scope="module")
def home(model_home) -> Settings:
    return model_home


@pytest.fixture(scope="module")
def data(home):
    return NextActionTask().build_dataset(CONFIG, home)


def test_each_step_is_labelled_by_the_next_event_and_sees_only_the_session_so_far(data, tiny_warehouse):
    rows = pl.concat(data.splits.values())
    with duckdb.connect(str(tiny_warehouse), read_only=True) as con:
        for session_id in rows["session_id"].unique().sort().head(40):
            steps = rows.filter(pl.col("session_id") == session_id).sort("step")
            events = con.execute("""
                SELECT event_type, ts, category FROM (
                    SELECT event_type, ts, event_id AS tie, item_id FROM events WHERE session_id = ?
                      AND event_type IN ('view', 'cart', 'purchase')
                    UNION ALL SELECT 'search', ts, -1, NULL FROM searches WHERE session_id = ?)
                LEFT JOIN items USING (item_id)
                ORDER BY ts, tie""", [session_id, session_id]).fetchall()
            assert steps["step"].to_list() == list(range(len(events) + 1))
            assert steps["next"].to_list() == [kind for kind, _, _ in events] + ["leave"]
            assert steps[NEXT_CATEGORY].to_list() == [c if kind == "view" else None for kind, _, c in events] + [None]
            opening, after = steps.row(0, named=True), steps.row(len(events), named=True)
            assert all(opening[c] == 0 for c in REALTIME if c not in (GAP, LAST_VIEW_ITEM))
            assert opening[GAP] is None and opening[LAST_VIEW_ITEM] is None
            kinds = [kind for kind, _, _ in events]
            assert after[SESSION_VIEWS] == kinds.count("view")
            assert after[LAST_ACTION] == names.NAVIGATION.index(kinds[-1]) + 1


def test_no_training_or_validation_label_reads_the_next_split(data):
    first_validation = data.splits["validation"]["cutoff"].min()
    first_test = data.splits["test"]["cutoff"].min()
    label_end = pl.col(names.EVENT_TIMESTAMP) + SESSION_END
    assert data.splits["train"].filter(label_end > first_validation).is_empty()
    assert data.splits["validation"].filter(label_end > first_test).is_empty()
    assert data.category_steps["train"]["session_id"].is_in(data.splits["train"]["session_id"]).all()


def test_the_truth_is_a_distribution_that_agrees_with_what_sessions_did(tiny_warehouse):
    with duckdb.connect(str(tiny_warehouse), read_only=True) as con:
        total, = con.execute("SELECT max(abs(p_search + p_view + p_cart + p_purchase + p_leave - 1)) "
                             "FROM truth.session_steps").fetchall()[0]
        assert total < 1e-5
        expected, happened = con.execute("""
            WITH nav AS (SELECT session_id, ts, event_id AS tie, event_type FROM events
                         WHERE event_type IN ('view', 'cart', 'purchase')
                         UNION ALL SELECT session_id, ts, -1, 'search' FROM searches),
                 carts AS (SELECT session_id, row_number() OVER (PARTITION BY session_id ORDER BY ts, tie) AS step,
                                  event_type FROM nav)
            SELECT sum(t.p_cart), count(*) FILTER (c.event_type = 'cart')
            FROM truth.session_steps t LEFT JOIN carts c ON c.session_id = t.session_id AND c.step = t.step + 1
            """).fetchall()[0]
    assert happened > 100 and abs(happened - expected) < 4 * math.sqrt(expected)
    with duckdb.connect(str(tiny_warehouse), read_only=True) as con:      # views away from the session's category
        expected, happened = con.execute("""
            WITH nav AS (SELECT session_id, ts, event_id AS tie, event_type, item_id FROM events
                         WHERE event_type IN ('view', 'cart', 'purchase')
                         UNION ALL SELECT session_id, ts, -1, 'search', NULL FROM searches),
                 ordered AS (SELECT session_id, row_number() OVER (PARTITION BY session_id ORDER BY ts, tie) AS step,
                                    event_type, item_id FROM nav),
                 names AS (SELECT list(DISTINCT category ORDER BY category) AS listed FROM items)
            SELECT sum(t.p_next_ad * (1 - s.ad_categories[list_position((SELECT listed FROM names), s.category)])),
                   count(*) FILTER (i.category != s.category)
            FROM truth.session_steps t
            JOIN ordered o ON o.session_id = t.session_id AND o.step = t.step + 1 AND o.event_type = 'view'
            JOIN items i ON i.item_id = o.item_id JOIN truth.sessions s ON s.session_id = t.session_id
            WHERE t.step > 0""").fetchall()[0]
    assert happened > 50 and abs(happened - expected) < 4 * math.sqrt(expected)


def test_the_evaluation_puts_the_model_beside_the_step_shares_and_the_oracle(home, data):
    task = NextActionTask()
    model = task.train(CONFIG, data)
    evaluation = task.evaluate(CONFIG, model, data, home)
    for table in (TABLE, CATEGORY_TABLE):
        rows = evaluation.tables[table]
        assert set(rows) == {MODEL, BASELINE, ORACLE}
        assert rows[ORACLE]["log_loss"] < rows[BASELINE]["log_loss"]
        assert rows[ORACLE]["skill"] == pytest.approx(1.0) and rows[BASELINE]["skill"] == pytest.approx(0.0)
    oracle = category.oracle(home, data.category_steps["test"], data.categories)
    assert np.allclose(oracle.sum(axis=1), 1.0)


def test_the_session_inputs_count_as_the_stream_does():
    start = datetime(2026, 1, 1, 10, tzinfo=timezone.utc)
    opening = session_inputs(None)
    assert opening["session_views"] == 0 and opening["last_action"] == 0 and math.isnan(opening["minutes_since_last_event"])
    after = session_inputs([("cart", start + timedelta(minutes=3), 7), ("view", start, 7)])     # any order
    assert (after["session_views"], after["session_carts"], after["session_minutes"], after["last_action"],
            after["minutes_since_last_event"], after["last_view_item"]) == (1, 1, 3.0, 3.0, 3.0, 7.0)


def test_every_step_before_a_view_is_one_row_per_category_with_one_chosen(data):
    steps, rows = data.category_steps["train"], data.candidate_splits["train"]
    assert rows.height == steps.height * len(data.categories)
    assert rows.group_by("step_row").agg(pl.col(category.CHOSEN).sum())[category.CHOSEN].to_list() == [1] * steps.height
    stays = rows.filter(pl.col(category.SAME) == 1.0)
    assert stays.height == steps[category.LAST_CATEGORY].is_not_null().sum()


def test_the_step_shares_fall_back_to_the_overall_shares(data):
    shares = step_shares(data.splits["train"])
    p = shares_for(shares, [2.0, 99.0], [1.0, 1.0])
    assert np.allclose(p.sum(axis=1), 1.0)
    assert np.allclose(p[1], shares.select(ACTIONS).mean().to_numpy()[0])
