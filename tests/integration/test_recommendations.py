"""The recommendations task on the tiny shop: a candidate is a positive exactly when its user buys
it in the week after the cut-off, the weeks of each split never overlap the next split's labels,
the user's latest purchases are left out, the carousels it learns from end before the weeks they
are judged on, and the ranker, its learner chosen on validation, is judged beside each source alone."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import polars as pl
import pytest

from feature_repo.definitions import names
from training.candidates import SOURCES
from training.carousel_logs import CAROUSEL_ID
from training.labels import CUTOFF
from training.tasks.recommendations import (CHOICES, LABEL, LEARNERS, MODEL, TABLE, RecommendationsConfig,
                                            RecommendationsTask)

CONFIG = RecommendationsConfig(train_weeks=2, validation_weeks=1, test_weeks=1, max_users=400)


@pytest.fixture(scope="module")
def data(model_home):
    from training.item_index import ItemIndexConfig, build_item_index

    build_item_index(model_home, ItemIndexConfig())
    return RecommendationsTask().build_dataset(CONFIG, model_home)


def test_a_candidate_is_positive_exactly_when_bought_in_the_week_after(data, tiny_warehouse):
    rows = pl.concat(data.splits.values(), how="diagonal_relaxed")
    assert rows[LABEL].sum() > 0
    with duckdb.connect(str(tiny_warehouse), read_only=True) as con:
        bought = con.sql("SELECT user_id, item_id, ts FROM events WHERE event_type = 'purchase'").pl().with_columns(
            pl.col("ts").dt.convert_time_zone("UTC"))
    week = rows.select(names.USER_ID, names.ITEM_ID, CUTOFF, LABEL).join(bought, on=[names.USER_ID, names.ITEM_ID],
                                                                       how="left")
    inside = (pl.col("ts") >= pl.col(CUTOFF)) & (pl.col("ts") < pl.col(CUTOFF) + timedelta(days=7))
    truth = week.group_by(names.USER_ID, names.ITEM_ID, CUTOFF).agg(inside.fill_null(False).any().alias("truth"),
                                                                    pl.col(LABEL).first())
    assert (truth["truth"] == (truth[LABEL] == 1)).all()


def test_each_split_s_labels_end_before_the_next_split_begins(data):
    end = {name: frame[CUTOFF].max() + timedelta(days=7) for name, frame in data.splits.items()}
    assert end["train"] <= data.splits["validation"][CUTOFF].min()
    assert end["validation"] <= data.splits["test"][CUTOFF].min()


def test_the_carousel_slices_end_where_the_candidates_splits_begin(data, tiny_warehouse):
    logs, first_test = data.carousels, data.splits["test"][CUTOFF].min()
    assert logs is not None
    assert logs.shown["train"][names.EVENT_TIMESTAMP].max() < data.splits["validation"][CUTOFF].min()
    assert logs.shown["validation"][names.EVENT_TIMESTAMP].min() >= data.splits["validation"][CUTOFF].min()
    for frames in (logs.shown, logs.explored):
        assert frames["validation"][names.EVENT_TIMESTAMP].max() < first_test
    with duckdb.connect(str(tiny_warehouse), read_only=True) as con:
        explored = set(con.sql("SELECT carousel_id FROM carousels WHERE explored").pl()[CAROUSEL_ID].to_list())
    assert set(logs.explored["train"][CAROUSEL_ID].to_list()) <= explored
    assert len(logs.gains) == 1 + 2 * 10 and logs.gains[1] == 1.0


def test_the_latest_purchases_are_never_candidates(data, model_home):
    from training.datasets import point_in_time_dataset

    rows = data.splits["test"].select(names.USER_ID, names.ITEM_ID, names.EVENT_TIMESTAMP)
    latest = point_in_time_dataset(rows.unique(names.USER_ID).select(names.USER_ID, names.EVENT_TIMESTAMP),
                                   names.RECENT_ITEMS_V1, model_home)
    bought = latest.unpivot(index=names.USER_ID, on=[f"{names.USER_RECENT_ITEMS}__{c}" for c in names.BOUGHT_ITEMS],
                            value_name="item").drop_nulls("item")
    overlap = rows.join(bought.with_columns(pl.col("item").cast(pl.Int64)),
                        left_on=[names.USER_ID, names.ITEM_ID], right_on=[names.USER_ID, "item"])
    assert bought.height > 0 and overlap.is_empty()


def test_the_ranker_is_judged_beside_each_source(data, model_home):
    from training.task import run

    result = run(RecommendationsTask(), CONFIG, model_home, data=data)
    table = result.metrics[TABLE]
    assert set(table) == {MODEL, *SOURCES}
    for row in table.values():
        assert 0 <= row["hr_at_10"] <= 1 and 0 <= row["ndcg_at_10"] <= row["hr_at_10"] + 1e-12
        assert 0 < row["coverage_at_10"] <= 1 and 0 <= row["share_of_best_expected_purchases"] <= 1
    assert table["popular"]["coverage_at_10"] < table[MODEL]["coverage_at_10"]
    choices = result.metrics[CHOICES]
    assert set(choices) == set(LEARNERS) and sum(row["chosen"] for row in choices.values()) == 1
    best = max(choices, key=lambda learning: choices[learning]["ndcg_at_10"])
    assert choices[best]["chosen"] == 1
    assert result.report.is_file()
