"""Real-time session counters from the event stream.

Events enter a Redis stream (``STREAM_KEY``, one entry per event: user, session, type, item, time)
as a shop's front end sends them; ``replay`` feeds a day of the warehouse's events into it at a
chosen rate, in time order. ``consume`` reads the stream in batches, keeps each user's current
session (``SessionCounters``) and pushes the users a batch touched into the ``user_realtime`` view
through Feast's push API (``PushMode.ONLINE``), so a counter is readable online as soon as the push
returns. Each entry's stream id is the time Redis received it, so the consumer measures freshness
per event: the time from entering the stream to the push that makes it readable.

Only navigation events (``names.NAVIGATION``: search, view, cart, purchase; the replay sends
searches too) move the counters; likes, favourites and shares pass by. A session is the event's
``session_id``; an event without one starts a new session after ``SESSION_GAP`` of silence.
Pushed per user (``names.REALTIME_FEATURES``): the current session's searches, views, carts and
purchases, its age in minutes, its last action, the item it viewed last, and the minutes between
this event and the user's previous one (the gap that led to it, NaN when the consumer has none in
memory; a reader takes the time since the event from the row's timestamp). ``sql/user_realtime.sql`` computes the
same rows from the warehouse (the view's offline history, for training); a test holds them equal.
A user silent for ``FORGET_AFTER`` leaves the consumer's memory, so it holds the active users only.

Written by hand: Feast's stream ingestion (``StreamFeatureView`` with a Spark or Flink processor)
needs a Kafka or Kinesis source and a stream processor; a Redis consumer group and a push per batch
is the whole job here."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import numpy as np

from feature_repo.definitions import names
from shopml.settings import DEFAULT_STREAM_REDIS

log = logging.getLogger(__name__)

STREAM_KEY = "shopml:events"
SESSION_GAP = timedelta(minutes=names.SESSION_GAP_MINUTES)
FORGET_AFTER = timedelta(days=1)   # a user silent this long (in event time) leaves the consumer's memory
FORGET_EVERY = 100                 # pushes between two such sweeps
MAX_STREAM_LENGTH = 1_000_000      # entries kept (approximately): older ones are trimmed
READ_COUNT = 2_000                 # entries per read
LATENCIES_KEPT = 1_000_000         # freshness figures kept (the latest)
NO_SESSION = -1
NO_ITEM = -1

EVENTS_SQL = """
SELECT user_id, session_id, event_type, item_id, ts_us FROM (
    SELECT user_id, coalesce(session_id, -1) AS session_id, event_type, coalesce(item_id, -1) AS item_id,
           epoch_us(ts) AS ts_us, event_id AS tie
    FROM events WHERE ts >= ?::TIMESTAMPTZ AND ts < ?::TIMESTAMPTZ AND user_id IS NOT NULL
    UNION ALL
    SELECT user_id, coalesce(session_id, -1), 'search', -1, epoch_us(ts), -1
    FROM searches WHERE ts >= ?::TIMESTAMPTZ AND ts < ?::TIMESTAMPTZ AND user_id IS NOT NULL
)
ORDER BY ts_us, tie
"""


class StreamError(RuntimeError):
    """The stream cannot do what was asked (no Redis, no such day, a malformed entry)."""


def connect_redis(url: str = DEFAULT_STREAM_REDIS):
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        raise StreamError(f"no Redis at {url}: {error}") from None
    return client


def busiest_day(settings) -> date:
    """The day with the most events in the warehouse: the one to replay for a load figure."""
    from shopml.warehouse.database import connect

    with connect(settings.warehouse_path) as con:
        found = con.execute("SELECT ts::DATE AS day FROM events GROUP BY day ORDER BY count(*) DESC LIMIT 1").fetchall()
    if not found:
        raise StreamError("the warehouse has no events")
    return found[0][0]


@dataclass
class ReplayResult:
    events: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else float("inf")


def replay(settings, client, day: date, rate: float, limit: int | None = None,
           stream: str = STREAM_KEY) -> ReplayResult:
    """Send the warehouse's events of ``day`` (UTC) into the stream in time order, ``rate`` events
    a second (paced in 10 ms ticks), at most ``limit`` of them."""
    from shopml.warehouse.database import connect

    if rate <= 0:
        raise StreamError(f"the replay rate must be positive, not {rate}")
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    with connect(settings.warehouse_path) as con:
        events = con.execute(EVENTS_SQL, [start, start + timedelta(days=1)] * 2).fetchnumpy()
    total = len(events["user_id"]) if limit is None else min(limit, len(events["user_id"]))
    if total == 0:
        raise StreamError(f"the warehouse has no events on {start:%Y-%m-%d}")
    tick = 0.01
    per_tick = max(1, round(rate * tick))
    began = time.perf_counter()
    for number, first in enumerate(range(0, total, per_tick)):
        pipe = client.pipeline(transaction=False)
        for i in range(first, min(first + per_tick, total)):
            pipe.xadd(stream, {"user_id": int(events["user_id"][i]), "session_id": int(events["session_id"][i]),
                               "event_type": str(events["event_type"][i]), "item_id": int(events["item_id"][i]),
                               "ts_us": int(events["ts_us"][i])},
                      maxlen=MAX_STREAM_LENGTH, approximate=True)
        pipe.execute()
        wait = began + (number + 1) * tick - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
    return ReplayResult(total, time.perf_counter() - began)


@dataclass
class Session:
    id: int
    first_us: int
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(names.NAVIGATION, 0))
    last_action: int = 0          # 1-based in names.NAVIGATION; 0: none yet
    last_view_item: float = float("nan")


@dataclass
class SessionCounters:
    """Each user's current session and the time of their last navigation event."""
    sessions: dict[int, Session] = field(default_factory=dict)
    last_us: dict[int, int] = field(default_factory=dict)

    def update(self, user: int, session: int, event_type: str, ts_us: int, item: int = NO_ITEM) -> dict[str, float] | None:
        """Count one event; returns the user's ``names.REALTIME_FEATURES`` after it, or None for an
        event that is not a navigation event."""
        if event_type not in names.NAVIGATION:
            return None
        previous = self.last_us.get(user)
        gap_us = float("nan") if previous is None else max(0, ts_us - previous)
        current = self.sessions.get(user)
        if (current is None or session != current.id
                or (session == NO_SESSION and gap_us > SESSION_GAP.total_seconds() * 1e6)):
            current = self.sessions[user] = Session(id=session, first_us=ts_us)
        current.counts[event_type] += 1
        current.last_action = names.NAVIGATION.index(event_type) + 1
        if event_type == "view" and item != NO_ITEM:
            current.last_view_item = float(item)
        self.last_us[user] = max(ts_us, previous or ts_us)
        return {"session_views": float(current.counts["view"]), "session_carts": float(current.counts["cart"]),
                "minutes_since_last_event": gap_us / 60e6, "session_searches": float(current.counts["search"]),
                "session_purchases": float(current.counts["purchase"]),
                "session_minutes": max(0, ts_us - current.first_us) / 60e6, "last_action": float(current.last_action),
                "last_view_item": current.last_view_item}

    def forget_before(self, ts_us: int) -> int:
        """Drop the users whose last event came before ``ts_us`` (their next event starts afresh);
        returns how many, so a consumer's memory follows the active users, not every user seen."""
        silent = [user for user, last in self.last_us.items() if last < ts_us]
        for user in silent:
            del self.sessions[user], self.last_us[user]
        return len(silent)


@dataclass
class ConsumeResult:
    events: int = 0
    pushes: int = 0
    # per event, stream entry -> readable online: the latest LATENCIES_KEPT, so a consumer that runs
    # for days holds a bounded window
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=LATENCIES_KEPT))
    last_id: str = "0-0"

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


def consume(store, client, stream: str = STREAM_KEY, start_id: str = "$", idle_seconds: float | None = None,
            max_events: int | None = None, on_batch: Callable[[ConsumeResult], None] | None = None) -> ConsumeResult:
    """Read the stream from ``start_id`` (``$``: only new entries; ``0``: from the oldest kept) and
    push each batch's users into ``user_realtime``; stop after ``idle_seconds`` without an entry or
    after ``max_events``."""
    import pandas as pd
    from feast.data_source import PushMode

    counters = SessionCounters()
    result = ConsumeResult(last_id=start_id)
    if start_id == "$":            # pin "now" once, so entries arriving between reads are never skipped
        newest = client.xinfo_stream(stream)["last-generated-id"] if client.exists(stream) else b"0-0"
        result.last_id = newest.decode() if isinstance(newest, bytes) else str(newest)
    idle_since = time.monotonic()
    while max_events is None or result.events < max_events:
        count = READ_COUNT if max_events is None else min(READ_COUNT, max_events - result.events)
        found = client.xread({stream: result.last_id}, count=count, block=100)
        if not found:
            if idle_seconds is not None and time.monotonic() - idle_since > idle_seconds:
                break
            continue
        entries = found[0][1]
        rows, entered_ms = {}, []           # per user, the row of their latest event in the batch
        for entry_id, fields in entries:
            user = int(fields[b"user_id"])
            ts_us = int(fields[b"ts_us"])
            counted = counters.update(user, int(fields[b"session_id"]), fields[b"event_type"].decode(), ts_us,
                                      int(fields[b"item_id"]))
            if counted is not None:
                rows[user] = {names.USER_ID: user, "ts_us": ts_us, **counted}
                entered_ms.append(int(entry_id.split(b"-")[0]))
        result.events += len(entries)
        result.last_id = entries[-1][0].decode()
        idle_since = time.monotonic()
        if not rows:
            continue
        frame = pd.DataFrame(list(rows.values()))
        frame[names.EVENT_TIMESTAMP] = pd.to_datetime(frame.pop("ts_us"), unit="us", utc=True)
        store.push(names.USER_REALTIME_PUSH, frame, to=PushMode.ONLINE)
        readable_ms = time.time() * 1000
        result.latencies_ms.extend(readable_ms - entered for entered in entered_ms)
        result.pushes += 1
        if result.pushes % FORGET_EVERY == 0:
            counters.forget_before(max(row["ts_us"] for row in rows.values()) - int(FORGET_AFTER.total_seconds() * 1e6))
        if on_batch is not None:
            on_batch(result)
    return result
