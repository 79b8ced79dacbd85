"""Labelled entity rows: labels from after the as-of time only, complete windows, purged time
splits (no training or validation label reads the period after its split)."""

import shutil
from datetime import datetime, timedelta, timezone

import duckdb
import numpy as np
import polars as pl
import pytest

from feature_repo.definitions import names
from tests.conftest import TINY_SHOP
from training.labels import CUTOFF, LabelSpec, labelled_users, purged_cutoffs, split_by_time

WEEKLY = LabelSpec(horizon_days=7, train_cutoffs=2, validation_cutoffs=1, test_cutoffs=2)


@pytest.fixture(scope="module")
def weekly(tiny_warehouse):
    return labelled_users(tiny_warehouse, WEEKLY)


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
    parts = split_by_time(weekly, validation_cutoffs=1, test_cutoffs=2, horizon=WEEKLY.horizon)
    assert parts["train"][CUTOFF].n_unique() == 2
    assert parts["train"][CUTOFF].max() < parts["validation"][CUTOFF].min()
    assert parts["validation"][CUTOFF].max() < parts["test"][CUTOFF].min()
    assert parts["test"][CUTOFF].n_unique() == 2
    assert sum(p.height for p in parts.values()) == weekly.height       # the schedule needs no purging
    with pytest.raises(ValueError, match="cannot make train"):
        split_by_time(weekly, validation_cutoffs=3, test_cutoffs=3)


@pytest.mark.parametrize("horizon_days", [7, 10, 14])
def test_the_schedule_leaves_a_label_window_between_the_splits(tiny_warehouse, horizon_days):
    spec = LabelSpec(horizon_days=horizon_days, train_cutoffs=2, validation_cutoffs=1, test_cutoffs=1)
    with duckdb.connect(str(tiny_warehouse), read_only=True) as con:
        first, last = con.execute("SELECT min(ts), max(ts) FROM events").fetchall()[0]
    if horizon_days == 14:            # 30 days of history, three 14-day windows and weekly steps exceed 70 days
        with pytest.raises(ValueError, match="too little time"):
            purged_cutoffs(first, last, spec)
        return
    schedule = purged_cutoffs(first, last, spec)
    assert max(schedule["train"]) + spec.horizon <= min(schedule["validation"])
    assert max(schedule["validation"]) + spec.horizon <= min(schedule["test"])
    # the latest training cut-off the purge allows: a week later would read into validation
    assert min(schedule["validation"]) - spec.horizon < max(schedule["train"]) + timedelta(days=7)


def test_no_training_or_validation_label_reads_the_test_period(tiny_warehouse, tmp_path):
    """Delete every event at or after the first test cut-off: the training and validation labels
    stay exactly as they were, so none of them read the test period."""
    spec = LabelSpec(horizon_days=10, train_cutoffs=1, validation_cutoffs=1, test_cutoffs=1)
    with duckdb.connect(str(tiny_warehouse), read_only=True) as con:
        first, last = con.execute("SELECT min(ts), max(ts) FROM events").fetchall()[0]
    schedule = purged_cutoffs(first, last, spec)
    split = split_by_time(labelled_users(tiny_warehouse, spec), 1, 1, spec.horizon)
    cut = tmp_path / "until_test.duckdb"
    shutil.copy(tiny_warehouse, cut)
    with duckdb.connect(str(cut)) as con:
        con.execute("SET TimeZone = 'UTC'")
        removed = con.execute("DELETE FROM events WHERE ts >= ?", [schedule["test"][0]]).fetchall()[0][0]
    assert removed > 0
    before = pl.concat([split["train"], split["validation"]]).select(names.USER_ID, CUTOFF, "will_purchase",
                                                                     "will_cart", "will_churn")
    again = labelled_users(cut, spec, times=[*schedule["train"], *schedule["validation"]])
    assert again.select(before.columns).sort(CUTOFF, names.USER_ID).equals(before.sort(CUTOFF, names.USER_ID))


def test_rows_whose_label_window_reaches_the_next_split_are_purged(caplog):
    """Rows stamped through each week (as ad slots and searches are), labels read a day ahead: the
    last day of training and of validation rows is purged, the test keeps every row."""
    start = datetime(2026, 1, 5, tzinfo=timezone.utc)
    stamps = [start + timedelta(hours=6 * i) for i in range(4 * 7 * 4)]          # four weeks, every 6 hours
    rows = pl.DataFrame({names.EVENT_TIMESTAMP: stamps, CUTOFF: [start + timedelta(days=7 * ((t - start).days // 7))
                                                                 for t in stamps]})
    parts = split_by_time(rows, validation_cutoffs=1, test_cutoffs=1, horizon=timedelta(days=1))
    first_validation, first_test = start + timedelta(days=14), start + timedelta(days=21)
    assert (parts["train"][names.EVENT_TIMESTAMP] + timedelta(days=1) <= first_validation).all()
    assert (parts["validation"][names.EVENT_TIMESTAMP] + timedelta(days=1) <= first_test).all()
    assert parts["train"].height == 14 * 4 - 3 and parts["validation"].height == 7 * 4 - 3   # 18:00, 12:00, 06:00
    assert parts["test"].height == 7 * 4 and "purged 6 rows" in caplog.text
    with pytest.raises(ValueError, match="no validation rows"):
        split_by_time(rows, validation_cutoffs=1, test_cutoffs=1, horizon=timedelta(days=8))


def test_cutoffs_without_enough_history_are_dropped_with_a_warning(tiny_warehouse, caplog):
    rows = labelled_users(tiny_warehouse, LabelSpec(horizon_days=7, train_cutoffs=9, test_cutoffs=1))
    assert rows[CUTOFF].n_unique() == 2 + 3 and "only 3 of 9 weekly train cut-offs" in caplog.text


def test_a_horizon_longer_than_the_data_is_refused(tiny_warehouse):
    with pytest.raises(ValueError, match="too little time"):
        labelled_users(tiny_warehouse, LabelSpec(horizon_days=TINY_SHOP.days))
