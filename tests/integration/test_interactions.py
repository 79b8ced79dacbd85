"""Interaction labels and their oracle on the tiny shop: each label is what the events say within
the window after the view and nothing later, every week is sampled alike, and the simulator's
own probabilities are calibrated against the labels they were drawn for."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from shopml.settings import Settings
from tests.conftest import tiny_shop_home
from training.tasks.interactions import HEADS, LABEL_WINDOW, InteractionsConfig, labelled_views, oracle_probabilities

CONFIG = InteractionsConfig(weeks=4, views_per_week=3000)


@pytest.fixture(scope="module")
def home(tiny_warehouse, tmp_path_factory) -> Settings:
    return tiny_shop_home(tiny_warehouse, tmp_path_factory, "interactions_home")


@pytest.fixture(scope="module")
def views(home):
    return labelled_views(home, CONFIG)


def test_labels_are_the_interactions_within_the_window_after_the_view(views, tiny_warehouse):
    assert views.height == 4 * CONFIG.views_per_week and views["cutoff"].n_unique() == 4
    with duckdb.connect(str(tiny_warehouse), read_only=True) as con:
        con.register("v", views.select("user_id", "item_id", "event_timestamp", *HEADS).to_arrow())
        for head in HEADS:
            recount = con.execute(f"""
                SELECT count(*) FILTER (WHERE v.{head} <> coalesce(e.n > 0, false)) FROM v LEFT JOIN (
                    SELECT v.user_id, v.item_id, v.event_timestamp, count(*) AS n FROM v JOIN events e
                      ON e.user_id = v.user_id AND e.item_id = v.item_id AND e.event_type = '{head}'
                     AND e.ts BETWEEN v.event_timestamp AND v.event_timestamp + INTERVAL
                         {int(LABEL_WINDOW.total_seconds())} SECOND
                    GROUP BY ALL) e USING (user_id, item_id, event_timestamp)""").fetchall()[0][0]
            assert recount == 0, head
    assert views["like"].mean() > views["share"].mean() > 0


def test_the_oracle_is_calibrated_against_the_labels(home, views):
    oracle = oracle_probabilities(home, views)
    for head in HEADS:
        expected, seen = oracle[head].mean(), views[head].mean()
        spread = np.sqrt(expected * (1 - expected) / views.height)
        assert abs(seen - expected) < 4 * spread, (head, seen, expected)
