"""The steps of shopping sessions, as ``next_action`` learns from them and a service sees them.

A step is a moment of a session: as it opens (step 0, before its first event), then after each of
its navigation events (``names.NAVIGATION``: search, view, cart, purchase; likes, favourites and
shares are reactions, not steps). Its label is the next one (``leave`` after the last), and, where
that is a view, the category it landed in. Its session features are the ``user_realtime`` view's:
what the stream consumer pushed at that event (its offline history), or, as a session opens, none
yet (``opening``), exactly as a service counts a session's events (``session_inputs``). Also here:
the population's step probabilities (the baseline, and the answer for unknown users) and the
simulator's own probabilities (the oracle).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from feature_repo.definitions import names
from feature_repo.stream import NO_ITEM, SessionCounters
from shopml.settings import Settings
from shopml.warehouse.database import connect, has_truth

from .labels import CUTOFF, WEEK_START_SQL, midnight_after

ACTIONS = ("search", "view", "cart", "purchase", "leave")     # the classes, in the simulator's order
SESSION_END = timedelta(minutes=names.SESSION_GAP_MINUTES)     # a session's label is read within this
VIEWS_CAP = 5                                                   # the baseline's views-so-far buckets: 0..5+
REALTIME = [f"{names.USER_REALTIME}__{f}" for f in names.REALTIME_FEATURES]
LAST_ACTION, SESSION_VIEWS = f"{names.USER_REALTIME}__last_action", f"{names.USER_REALTIME}__session_views"
GAP = f"{names.USER_REALTIME}__minutes_since_last_event"
LAST_VIEW_ITEM = f"{names.USER_REALTIME}__{names.LAST_VIEW_ITEM}"
SESSION_FEATURES = [column for column in REALTIME if column != LAST_VIEW_ITEM]   # what models read of a session
NEXT_CATEGORY = "next_category"      # on step rows: the category of the next view, where the next action is one

STEPS_SQL = """
WITH nav AS (
    SELECT user_id, session_id, ts, event_type, event_id AS tie, item_id FROM events
    WHERE event_type IN ('view', 'cart', 'purchase') AND session_id IS NOT NULL AND user_id IS NOT NULL
    UNION ALL
    SELECT user_id, session_id, ts, 'search', -1, NULL FROM searches
    WHERE session_id IS NOT NULL AND user_id IS NOT NULL
),
chosen AS (
    SELECT session_id FROM nav GROUP BY session_id
    HAVING min(ts) >= ?::TIMESTAMPTZ AND max(ts) < ?::TIMESTAMPTZ
    ORDER BY hash(session_id, {seed}) LIMIT {per_week}
),
steps AS (
    SELECT n.session_id, n.user_id, n.ts, n.event_type, n.item_id, row_number() OVER w AS step,
           lead(n.event_type, 1, 'leave') OVER w AS next, lead(n.item_id) OVER w AS next_item, {week_start} AS cutoff
    FROM nav n JOIN chosen USING (session_id)
    WINDOW w AS (PARTITION BY n.session_id ORDER BY n.ts, n.tie)
),
labelled AS (
    SELECT session_id, user_id, ts, step, next, next_item, cutoff FROM steps
    UNION ALL
    SELECT session_id, user_id, ts, 0, event_type, item_id, cutoff FROM steps WHERE step = 1
)
SELECT l.session_id, l.user_id AS {user}, l.ts AS {ts}, l.step, l.next,
       CASE WHEN l.next = 'view' THEN i.category END AS {next_category}, l.cutoff AS {cutoff}
FROM labelled l LEFT JOIN items i ON i.item_id = l.next_item
"""
ORACLE_SQL = """
SELECT w.row, {probabilities} FROM wanted w JOIN truth.session_steps t USING (session_id, step) ORDER BY w.row
"""


def session_steps(settings: Settings, weeks: int, per_week: int, seed: int) -> pl.DataFrame:
    """The steps of ``per_week`` sessions (seeded) of each of the latest ``weeks`` whole weeks, with
    ``next`` (the label), ``next_category`` (where that is a view), ``step`` and ``cutoff`` (the
    start of the session's week)."""
    with connect(settings.warehouse_path) as con:
        last = con.execute("SELECT max(ts) FROM events WHERE session_id IS NOT NULL").fetchall()[0][0]
        if last is None:
            raise ValueError("the warehouse has no events with a session id: next_action learns from sessions")
        end = midnight_after(last)
        frames = []
        for week in range(weeks):
            start, stop = end - timedelta(days=7 * (week + 1)), end - timedelta(days=7 * week)
            query = STEPS_SQL.format(seed=seed, per_week=per_week, user=names.USER_ID, ts=names.EVENT_TIMESTAMP,
                                     cutoff=CUTOFF, next_category=NEXT_CATEGORY,
                                     week_start=WEEK_START_SQL.format(ts="n.ts"))
            # a session must end a session gap before the data does, or its last step's "leave" is unsure
            frames.append(con.sql(query, params=[start, min(stop, end - SESSION_END), end, end]).pl())
    return pl.concat(frames).sort(names.EVENT_TIMESTAMP, "session_id", "step")


def opening(frame: pl.DataFrame) -> pl.DataFrame:
    """At a session's opening step the session has no counters yet, and the gap before it is
    unknown: as a service sees a new session (``session_inputs``)."""
    is_open = pl.col("step") == 0
    return frame.with_columns(
        *(pl.when(is_open).then(None if column in (GAP, LAST_VIEW_ITEM) else 0.0).otherwise(pl.col(column)).alias(column)
          for column in REALTIME))


def session_inputs(events: list[tuple[str, datetime, int | None]] | None) -> dict[str, float]:
    """The realtime features after ``events`` (type, time, item or None) of one session, counted
    as the stream consumer counts them; none: a session that has just opened."""
    features = {f: 0.0 for f in names.REALTIME_FEATURES} | {"minutes_since_last_event": math.nan,
                                                            names.LAST_VIEW_ITEM: math.nan}
    counters = SessionCounters()
    for event_type, ts, item in sorted(events or [], key=lambda event: event[1]):
        features = counters.update(0, 0, event_type, int(ts.timestamp() * 1e6), NO_ITEM if item is None else item)
    return features


def step_shares(train: pl.DataFrame) -> pl.DataFrame:
    """The population's step probabilities: per last action and views so far (capped), the
    training steps' next-action shares, smoothed towards the overall shares by one step."""
    overall = [(train["next"] == action).mean() for action in ACTIONS]
    keyed = train.select(pl.col(LAST_ACTION).fill_null(0).alias("last"),
                         pl.col(SESSION_VIEWS).fill_null(0).clip(0, VIEWS_CAP).alias("views"), "next")
    counts = keyed.group_by("last", "views").agg(pl.len().alias("n"),
                                                *((pl.col("next") == a).sum().alias(a) for a in ACTIONS))
    return counts.select("last", "views", *((pl.col(a) + overall[i]) / (pl.col("n") + 1) for i, a in enumerate(ACTIONS)))


def shares_for(shares: pl.DataFrame, last_action, session_views) -> np.ndarray:
    """(rows, actions) step probabilities for each (last action, views so far); a state the
    training steps never saw gets the overall shares."""
    keys = pl.DataFrame({"last": np.nan_to_num(np.asarray(last_action, dtype=float)),
                         "views": np.clip(np.nan_to_num(np.asarray(session_views, dtype=float)), 0, VIEWS_CAP)})
    found = keys.with_row_index().join(shares, on=["last", "views"], how="left").sort("index")
    overall = shares.select(ACTIONS).mean().to_numpy()[0]
    return np.where(found[ACTIONS[0]].is_null().to_numpy()[:, None], overall, found.select(ACTIONS).to_numpy())


def oracle_probabilities(settings: Settings, rows: pl.DataFrame) -> np.ndarray | None:
    """(rows, actions): the simulator's probability of each next action at each step, or None on
    real data."""
    with connect(settings.warehouse_path) as con:
        if not has_truth(con):
            return None
        con.register("wanted", rows.select("session_id", "step").with_row_index("row").to_arrow())
        found = con.sql(ORACLE_SQL.format(probabilities=", ".join(f"t.p_{a}" for a in ACTIONS))).pl()
    if found.height != rows.height:
        raise ValueError(f"{rows.height - found.height} steps have no recorded truth")
    return found.select(f"p_{a}" for a in ACTIONS).to_numpy().astype(float)


