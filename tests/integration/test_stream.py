"""The real-time path for real: a day of the tiny shop's events replayed into a Redis stream, the
consumer pushing session counters into Feast's online store, the counters read back through Feast
equal to a recount from the warehouse. Skipped, with the reason, where Redis is not reachable."""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import duckdb
import polars as pl
import pytest

from feature_repo.definitions import names
from feature_repo.store import open_store, reachable
from feature_repo.stream import EVENTS_SQL, SessionCounters, StreamError, busiest_day, connect_redis, consume, replay
from tests.integration.test_feature_store import feature_home
from tests.integration.test_production_store import REDIS

REDIS_URL = f"redis://{REDIS[0]}:{REDIS[1]}/14"      # a database of its own
EVENTS = 2_000                  # the tiny shop's busiest day has more
pytestmark = pytest.mark.skipif(not reachable(REDIS), reason="needs Redis on 127.0.0.1:6379")


@pytest.fixture(scope="module")
def settings(tiny_warehouse, tmp_path_factory):
    return feature_home(tiny_warehouse, tmp_path_factory.mktemp("stream_home"), online=False)


@pytest.fixture()
def stream():
    client = connect_redis(REDIS_URL)
    key = f"shopml:test:{uuid.uuid4().hex[:8]}"
    yield client, key
    client.delete(key)


def test_replayed_events_become_session_counters_readable_online(settings, stream):
    client, key = stream
    store = open_store(settings)
    found = busiest_day(settings)
    day = datetime(found.year, found.month, found.day, tzinfo=timezone.utc)
    consumed = {}
    reader = threading.Thread(target=lambda: consumed.setdefault(
        "result", consume(store, client, stream=key, idle_seconds=1.5)))
    reader.start()
    time.sleep(0.3)
    sent = replay(settings, client, day, rate=5_000, limit=EVENTS, stream=key)
    reader.join(timeout=60)
    result = consumed["result"]
    assert sent.events == result.events == EVENTS

    # online, each user's counters equal the view's offline history (sql/user_realtime.sql) at the
    # user's last navigation event sent; the gap before a user's first event of the day is NaN
    # online (the consumer did not see the one before it)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        events = con.sql(EVENTS_SQL, params=[day, day + timedelta(days=1)] * 2).pl().head(EVENTS)
    navigation = events.filter(pl.col("event_type").is_in(names.NAVIGATION))
    assert len(result.latencies_ms) == navigation.height and 0 < result.percentile(50) <= result.percentile(99) < 5_000
    last = navigation.group_by(names.USER_ID).agg(pl.col("ts_us").max()).sort(names.USER_ID)
    history = pl.read_parquet(settings.features_dir / f"{names.USER_REALTIME}.parquet").with_columns(
        ts_us=pl.col(names.EVENT_TIMESTAMP).dt.epoch("us"))
    expected = last.join(history, on=[names.USER_ID, "ts_us"], how="left").sort(names.USER_ID)
    compared = [f for f in names.REALTIME_FEATURES if f != "minutes_since_last_event"]
    online = store.get_online_features(features=[f"{names.USER_REALTIME}:{f}" for f in compared],
                                       entity_rows=[{names.USER_ID: u} for u in expected[names.USER_ID]]).to_dict()
    for feature in compared:
        assert online[feature] == pytest.approx(expected[feature].to_list(), nan_ok=True), feature


def test_the_consumer_stops_when_asked_and_reads_only_new_entries(settings, stream):
    client, key = stream
    client.xadd(key, {"user_id": 1, "session_id": 1, "event_type": "view", "item_id": 1, "ts_us": 0})
    result = consume(open_store(settings), client, stream=key, idle_seconds=0.3)   # "$": the old entry is not new
    assert result.events == 0
    assert consume(open_store(settings), client, stream=key, start_id="0", max_events=1).events == 1


def test_a_day_without_events_and_an_unreachable_redis_are_clear_errors(settings, stream):
    client, key = stream
    with pytest.raises(StreamError, match="no events on 1999-01-01"):
        replay(settings, client, datetime(1999, 1, 1), rate=100, stream=key)
    with pytest.raises(StreamError, match="rate must be positive"):
        replay(settings, client, datetime(1999, 1, 1), rate=0, stream=key)
    with pytest.raises(StreamError, match="no Redis at redis://127.0.0.1:1/0"):
        connect_redis("redis://127.0.0.1:1/0")


def test_session_counters_restart_with_a_new_session_or_after_a_silence():
    counters = SessionCounters()
    minute = 60_000_000
    first = counters.update(7, 1, "search", 0)
    assert math.isnan(first["minutes_since_last_event"]) and first["last_action"] == 1.0   # nothing before it
    assert counters.update(7, 1, "like", minute // 2) is None                            # not navigation
    assert counters.update(7, 1, "view", minute, 42)["last_view_item"] == 42.0
    after_cart = counters.update(7, 1, "cart", 2 * minute, 42)
    assert (after_cart["session_searches"], after_cart["session_views"], after_cart["session_carts"],
            after_cart["session_minutes"], after_cart["last_action"], after_cart["last_view_item"]) == (1, 1, 1, 2.0, 3.0, 42.0)
    renewed = counters.update(7, 2, "view", 5 * minute)                                  # a new session id
    assert (renewed["minutes_since_last_event"], renewed["session_views"], renewed["session_carts"],
            renewed["session_minutes"]) == (pytest.approx(3.0), 1, 0, 0) and math.isnan(renewed["last_view_item"])
    counters.update(8, -1, "view", 0)
    assert counters.update(8, -1, "view", 10 * minute)["session_views"] == 2             # no id: within the gap
    assert counters.update(8, -1, "view", 45 * minute)["session_views"] == 1             # 35 minutes of silence
    assert counters.forget_before(10 * minute) == 1 and 7 not in counters.last_us and 8 in counters.last_us
    again = counters.update(7, 2, "view", 50 * minute)
    assert math.isnan(again["minutes_since_last_event"]) and again["session_views"] == 1


def test_the_commands_replay_and_consume(settings):
    def shopml(*args):
        return subprocess.run([sys.executable, "-m", "shopml.cli", "stream", *args, "--home", str(settings.home),
                               "--redis", REDIS_URL], capture_output=True, text=True)

    missing = shopml("replay", "--day", "1999-01-01")
    assert missing.returncode == 2 and "no events on 1999-01-01" in missing.stdout
    idle = shopml("consume", "--idle-seconds", "0.5")
    assert idle.returncode == 0 and "0 events in 0 pushes" in idle.stdout, idle.stdout + idle.stderr
