"""Labelled entity rows: labels from after the as-of time only, complete windows, time splits."""

from datetime import timedelta

import duckdb
import numpy as np
import polars as pl
import pytest

from feature_repo.definitions import names
from tests.conftest import TINY_SHOP
from training.labels import CUTOFF, LabelSpec, labelled_users, split_by_time


@pytest.fixture(scope="module")
def weekly(tiny_warehouse):
    return labelled_users(tiny_warehouse, LabelSpec(horizon_days=7, cutoffs=5))


def test_cutoffs_are_weekly_midnights_with_complete_label_windows(weekly, tiny_warehouse):
    times = sorted(weekly[CUTOFF].unique().to_list())
    assert len(times) == 5
    assert all(t.hour == 0 and t.minute == 0 for t in times)
    assert all((b - a) == timedelta(days=7) for a, b in zip(times, times[1:]))
    with duckdb.connect(str(tiny_warehouse), read_only=True) as con:
        last_event = con.execute("SELECT max(ts) FROM events").fetchall()[0][0]
    assert times[-1] + timedelta(days=7) <= last_event + timedelta(days=1)
    assert times[-1] + timedelta(days=8) > last_event              # the latest usable one


def test_labels_equal_a_row_by_row_recount(weekly, tiny_warehouse):
    sample = weekly.sample(300, seed=1)
    with duckdb.connect(str(tiny_warehouse), read_only=True) as con:
        for user, as_of, purchase, cart, churn in sample.select(
                names.USER_ID, names.EVENT_TIMESTAMP, "will_purchase", "will_cart", "will_churn").iter_rows():
            kinds = [k for (k,) in con.execute(
                "SELECT event_type FROM events WHERE user_id = ? AND ts >= ? AND ts < ?",
                [user, as_of, as_of + timedelta(days=7)]).fetchall()]
            active = con.execute("SELECT count(*) FROM events WHERE user_id = ? AND ts >= ? AND ts < ?",
                                 [user, as_of - timedelta(days=30), as_of]).fetchall()[0][0]
            assert active > 0
            assert (purchase, cart, churn) == ("purchase" in kinds, "cart" in kinds, not kinds)


def test_every_active_user_is_scored_once_per_cutoff(weekly, tiny_warehouse):
    assert weekly.select(pl.struct(names.USER_ID, CUTOFF).is_unique().all()).item()
    latest = weekly[CUTOFF].max()
    with duckdb.connect(str(tiny_warehouse), read_only=True) as con:
        active = con.execute("SELECT count(DISTINCT user_id) FROM events WHERE ts >= ? AND ts < ?",
                             [latest - timedelta(days=30), latest]).fetchall()[0][0]
    assert weekly.filter(pl.col(CUTOFF) == latest).height == active


def test_outcomes_are_neither_rare_nor_certain_on_the_simulated_shop(weekly):
    rates = weekly.select(pl.col("will_purchase", "will_cart", "will_churn").cast(pl.Float64).mean()).row(0)
    assert all(0.05 < rate < 0.7 for rate in rates), rates


def test_split_is_by_time(weekly):
    parts = split_by_time(weekly, validation_cutoffs=1, test_cutoffs=2)
    assert parts["train"][CUTOFF].n_unique() == 2
    assert parts["train"][CUTOFF].max() < parts["validation"][CUTOFF].min()
    assert parts["validation"][CUTOFF].max() < parts["test"][CUTOFF].min()
    assert parts["test"][CUTOFF].n_unique() == 2
    assert sum(p.height for p in parts.values()) == weekly.height
    with pytest.raises(ValueError, match="cannot make train"):
        split_by_time(weekly, validation_cutoffs=3, test_cutoffs=3)


def test_cutoffs_without_enough_history_are_dropped_with_a_warning(tiny_warehouse, caplog):
    rows = labelled_users(tiny_warehouse, LabelSpec(horizon_days=7, cutoffs=9))
    assert rows[CUTOFF].n_unique() == 5 and "only 5 of 9 weekly cut-offs" in caplog.text


def test_a_horizon_longer_than_the_data_is_refused(tiny_warehouse):
    with pytest.raises(ValueError, match="too little time"):
        labelled_users(tiny_warehouse, LabelSpec(horizon_days=TINY_SHOP.days))
