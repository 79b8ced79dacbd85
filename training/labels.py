"""Labelled entity rows from the warehouse: who is scored when, and what happened next.

As-of times are weekly cut-offs at 00:00 UTC. A cut-off T is usable for a horizon of H days when
the warehouse holds every event of [T, T + H days), i.e. T + H days <= the midnight after the last
event; the latest usable cut-off comes first and the others step back a week at a time. A user is
scored at T when active (any event) in [T - 30 days, T). Labels read only events in
[T, T + H days): features see only ``ts < T`` (see feature_repo), so the two never meet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import polars as pl

from feature_repo.definitions import names
from shopml.warehouse.database import connect

log = logging.getLogger(__name__)

ACTIVE_DAYS = 30
CUTOFF = "cutoff"


@dataclass(frozen=True)
class LabelSpec:
    horizon_days: int                  # how far after the as-of time a label looks
    cutoffs: int = 8                   # weekly cut-offs, the latest usable one and those before it
    step_days: int = 7


def midnight_after(ts: datetime) -> datetime:
    return datetime.combine(ts.astimezone(timezone.utc).date() + timedelta(days=1), datetime.min.time(),
                            tzinfo=timezone.utc)


def cutoff_times(con: duckdb.DuckDBPyConnection, spec: LabelSpec) -> list[datetime]:
    first, last = con.execute("SELECT min(ts), max(ts) FROM events").fetchall()[0]
    if first is None:
        raise ValueError("the warehouse has no events")
    data_end = midnight_after(last)
    earliest = datetime.combine(first.astimezone(timezone.utc).date(), datetime.min.time(),
                                tzinfo=timezone.utc) + timedelta(days=ACTIVE_DAYS)
    latest = data_end - timedelta(days=spec.horizon_days)
    times = [latest - timedelta(days=spec.step_days * k) for k in range(spec.cutoffs)]
    usable = sorted(t for t in times if t >= earliest)
    if not usable:
        raise ValueError(f"the warehouse spans too little time for a {spec.horizon_days}-day horizon "
                         f"after {ACTIVE_DAYS} days of history")
    if len(usable) < spec.cutoffs:
        log.warning("only %d of %d weekly cut-offs have %d days of history and a complete %d-day horizon",
                    len(usable), spec.cutoffs, ACTIVE_DAYS, spec.horizon_days)
    return usable


LABEL_SQL = """
WITH cutoffs AS (SELECT unnest(?::TIMESTAMPTZ[]) AS t),
active AS (
    SELECT DISTINCT c.t, e.user_id FROM cutoffs c
    JOIN events e ON e.ts >= c.t - INTERVAL {active} DAY AND e.ts < c.t),
ahead AS (
    SELECT a.t, a.user_id,
           count(e.event_id) AS events,
           count(e.event_id) FILTER (WHERE e.event_type = 'purchase') AS purchases,
           count(e.event_id) FILTER (WHERE e.event_type = 'cart') AS carts
    FROM active a LEFT JOIN events e
      ON e.user_id = a.user_id AND e.ts >= a.t AND e.ts < a.t + INTERVAL {horizon} DAY
    GROUP BY a.t, a.user_id)
SELECT user_id AS {user}, t AS {ts}, t AS {cutoff},
       purchases > 0 AS will_purchase, carts > 0 AS will_cart, events = 0 AS will_churn
FROM ahead ORDER BY t, user_id
"""


def labelled_users(warehouse: Path, spec: LabelSpec) -> pl.DataFrame:
    """One row per (active user, cut-off): ``user_id``, ``event_timestamp`` (= ``cutoff``), and
    the outcomes over the horizon: ``will_purchase``, ``will_cart``, ``will_churn`` (no event)."""
    with connect(warehouse) as con:
        times = cutoff_times(con, spec)
        query = LABEL_SQL.format(active=ACTIVE_DAYS, horizon=spec.horizon_days, user=names.USER_ID,
                                 ts=names.EVENT_TIMESTAMP, cutoff=CUTOFF)
        return con.sql(query, params=[times]).pl()


# the start of the week (counted back from a given end, the first parameter) holding ``ts``
WEEK_START_SQL = "?::TIMESTAMPTZ - to_days(7 * CAST(ceil(datediff('second', {ts}, ?::TIMESTAMPTZ) / 604800.0) AS INTEGER))"


IMPRESSION_SQL = """
SELECT a.impression_id, a.user_id AS {user}, a.ad_id AS {ad}, ads.item_id AS {item}, i.category AS {category},
       a.ts AS {ts}, a.position AS ad_position, hour(a.ts) AS hour_of_day, a.clicked,
       {week_start} AS {cutoff}
FROM ad_impressions a JOIN ads USING (ad_id) JOIN items i ON i.item_id = ads.item_id
WHERE NOT a.in_holdout AND a.ts >= ?::TIMESTAMPTZ - to_days(7 * ?)
ORDER BY a.ts, a.impression_id
"""


def labelled_impressions(warehouse: Path, weeks: int) -> pl.DataFrame:
    """Shown ad slots of the last ``weeks`` whole weeks before the midnight after the last
    impression: the keys of ``ctr_v1`` (user, ad, its item and the item's category), the slot's
    time (the as-of time), position and hour, the label ``clicked``, and ``cutoff``, the start of
    the slot's week, by which the rows are split."""
    with connect(warehouse) as con:
        last = con.execute("SELECT max(ts) FROM ad_impressions WHERE NOT in_holdout").fetchall()[0][0]
        if last is None:
            raise ValueError("the warehouse has no shown ad impressions")
        end = midnight_after(last)
        query = IMPRESSION_SQL.format(user=names.USER_ID, ad=names.AD_ID, item=names.ITEM_ID, category=names.CATEGORY,
                                      ts=names.EVENT_TIMESTAMP, cutoff=CUTOFF, week_start=WEEK_START_SQL.format(ts="a.ts"))
        return con.sql(query, params=[end, end, end, weeks]).pl()


def split_by_time(rows: pl.DataFrame, validation_cutoffs: int = 1, test_cutoffs: int = 1) -> dict[str, pl.DataFrame]:
    """Train on the earliest cut-offs, validate on the next, test on the latest: never a row split."""
    times = sorted(rows[CUTOFF].unique().to_list())
    if len(times) < validation_cutoffs + test_cutoffs + 1:
        raise ValueError(f"{len(times)} cut-offs cannot make train, {validation_cutoffs} validation "
                         f"and {test_cutoffs} test cut-offs")
    first_validation, first_test = times[-(validation_cutoffs + test_cutoffs)], times[-test_cutoffs]
    return {
        "train": rows.filter(pl.col(CUTOFF) < first_validation),
        "validation": rows.filter((pl.col(CUTOFF) >= first_validation) & (pl.col(CUTOFF) < first_test)),
        "test": rows.filter(pl.col(CUTOFF) >= first_test),
    }
