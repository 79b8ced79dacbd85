"""Labelled entity rows from the warehouse: who is scored when, and what happened next.

As-of times are weekly cut-offs at 00:00 UTC. A cut-off T is usable for a horizon of H days when
the warehouse holds every event of [T, T + H days), i.e. T + H days <= the midnight after the last
event. A user is scored at T when active (any event) in [T - 30 days, T). Labels read only events
in [T, T + H days): features see only ``ts < T`` (see feature_repo), so the two never meet.

Splits are purged (../shared/EVALUATION.md): the test cut-offs are the latest usable ones, and a
validation (training) cut-off's label window must end by the first test (validation) cut-off, so
no label that trains a model or makes a choice reads the period it is judged on. With a 30-day
horizon that leaves gaps of about a month between the splits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl

from feature_repo.definitions import names
from shopml.warehouse.database import connect

log = logging.getLogger(__name__)

ACTIVE_DAYS = 30
CUTOFF = "cutoff"


@dataclass(frozen=True)
class LabelSpec:
    horizon_days: int                  # how far after the as-of time a label looks
    train_cutoffs: int = 5             # weekly cut-offs to train on, the latest the purge allows
    validation_cutoffs: int = 1
    test_cutoffs: int = 2              # the latest usable cut-offs
    step_days: int = 7

    @property
    def horizon(self) -> timedelta:
        return timedelta(days=self.horizon_days)


def midnight_after(ts: datetime) -> datetime:
    return datetime.combine(ts.astimezone(timezone.utc).date() + timedelta(days=1), datetime.min.time(),
                            tzinfo=timezone.utc)


def purged_cutoffs(first: datetime, last: datetime, spec: LabelSpec) -> dict[str, list[datetime]]:
    """Weekly cut-offs per split for events spanning [first, last]: test the latest usable ones,
    validation the latest whose label windows end by the first test cut-off, train the latest
    whose windows end by the first validation cut-off. Cut-offs with less than ACTIVE_DAYS of
    history before them are dropped (with a warning); a split left empty is an error."""
    earliest = datetime.combine(first.astimezone(timezone.utc).date(), datetime.min.time(),
                                tzinfo=timezone.utc) + timedelta(days=ACTIVE_DAYS)
    step = timedelta(days=spec.step_days)
    latest = midnight_after(last) - spec.horizon

    def weekly(end: datetime, count: int) -> list[datetime]:
        """``count`` cut-offs on the weekly grid of ``latest``, the last at or before ``end``."""
        newest = latest - step * max(0, -((end - latest) // step))
        return [newest - step * k for k in range(count)][::-1]

    schedule = {"test": weekly(latest, spec.test_cutoffs)}
    schedule["validation"] = weekly(schedule["test"][0] - spec.horizon, spec.validation_cutoffs)
    schedule["train"] = weekly(schedule["validation"][0] - spec.horizon, spec.train_cutoffs)
    usable = {name: [t for t in times if t >= earliest] for name, times in schedule.items()}
    if not all(usable.values()):
        raise ValueError(f"the warehouse spans too little time for a {spec.horizon_days}-day horizon: "
                         f"{ACTIVE_DAYS} days of history, then train, validation and test cut-offs whose label "
                         f"windows do not overlap the next split")
    for name, times in usable.items():
        if len(times) < len(schedule[name]):
            log.warning("only %d of %d weekly %s cut-offs have %d days of history", len(times), len(schedule[name]),
                        name, ACTIVE_DAYS)
    return {name: usable[name] for name in ("train", "validation", "test")}


def cutoff_schedule(warehouse: Path, spec: LabelSpec) -> dict[str, list[datetime]]:
    """``purged_cutoffs`` over the span of the warehouse's events."""
    with connect(warehouse) as con:
        first, last = con.execute("SELECT min(ts), max(ts) FROM events").fetchall()[0]
    if first is None:
        raise ValueError("the warehouse has no events")
    return purged_cutoffs(first, last, spec)


LABEL_SQL = """
WITH cutoffs AS (SELECT unnest(?::TIMESTAMPTZ[]) AS t),
active AS (
    SELECT DISTINCT c.t, e.user_id FROM cutoffs c
    JOIN events e ON e.ts >= c.t - INTERVAL {active} DAY AND e.ts < c.t),
ahead AS (
    SELECT a.t, a.user_id,
           count(e.event_id) AS events,
           {counts}
    FROM active a LEFT JOIN events e
      ON e.user_id = a.user_id AND e.ts >= a.t AND e.ts < a.t + INTERVAL {horizon} DAY
    GROUP BY a.t, a.user_id),
reviewed AS (
    SELECT DISTINCT a.t, a.user_id FROM active a
    JOIN reviews r ON r.user_id = a.user_id AND r.ts >= a.t AND r.ts < a.t + INTERVAL {horizon} DAY)
SELECT user_id AS {user}, t AS {ts}, t AS {cutoff},
       {labels},
       events = 0 AS will_churn, r.user_id IS NOT NULL AS will_review
FROM ahead LEFT JOIN reviewed r USING (t, user_id) ORDER BY t, user_id
"""
EVENT_LABELS = ("purchase", "cart", "like", "favorite", "share")   # will_<event>: one within the horizon


def labelled_users(warehouse: Path, spec: LabelSpec, times: list[datetime] | None = None) -> pl.DataFrame:
    """One row per (active user, cut-off): ``user_id``, ``event_timestamp`` (= ``cutoff``), and
    the outcomes over the horizon: ``will_<event>`` for each of ``EVENT_LABELS``, ``will_review``
    (writes a review) and ``will_churn`` (no event). Cut-offs are ``purged_cutoffs`` of the
    warehouse's events unless ``times`` names them."""
    if times is None:
        times = [t for split in cutoff_schedule(warehouse, spec).values() for t in split]
    counts = ",\n           ".join(f"count(e.event_id) FILTER (WHERE e.event_type = '{event}') AS {event}s"
                                   for event in EVENT_LABELS)
    labels = ", ".join(f"{event}s > 0 AS will_{event}" for event in EVENT_LABELS)
    with connect(warehouse) as con:
        query = LABEL_SQL.format(active=ACTIVE_DAYS, horizon=spec.horizon_days, user=names.USER_ID,
                                 ts=names.EVENT_TIMESTAMP, cutoff=CUTOFF, counts=counts, labels=labels)
        return con.sql(query, params=[times]).pl()


# the start of the week (counted back from a given end, the first parameter) holding ``ts``
WEEK_START_SQL = "?::TIMESTAMPTZ - to_days(7 * CAST(ceil(datediff('second', {ts}, ?::TIMESTAMPTZ) / 604800.0) AS INTEGER))"


IMPRESSION_SQL = """
SELECT a.impression_id, a.user_id AS {user}, a.ad_id AS {ad}, ads.item_id AS {item}, i.category AS {category},
       a.ts AS {ts}, a.position AS ad_position, hour(a.ts) AS hour_of_day, a.clicked, a.converted,
       NOT a.in_holdout AS shown, {week_start} AS {cutoff}
FROM ad_impressions a JOIN ads USING (ad_id) JOIN items i ON i.item_id = ads.item_id
WHERE (? OR NOT a.in_holdout) AND a.ts >= ?::TIMESTAMPTZ - to_days(7 * ?)
ORDER BY a.ts, a.impression_id
"""


def labelled_impressions(warehouse: Path, weeks: int, with_ghosts: bool = False) -> pl.DataFrame:
    """Shown ad slots (and, ``with_ghosts``, the holdout's, chosen and never shown) of the last
    ``weeks`` whole weeks before the midnight after the last impression: the keys of ``ctr_v1``
    (user, ad, its item and the item's category), the slot's time (the as-of time), position and
    hour, the labels ``clicked`` and ``converted`` (the session bought the ad's item after the
    slot), ``shown``, and ``cutoff``, the start of the slot's week, by which the rows are split."""
    with connect(warehouse) as con:
        last = con.execute("SELECT max(ts) FROM ad_impressions WHERE NOT in_holdout").fetchall()[0][0]
        if last is None:
            raise ValueError("the warehouse has no shown ad impressions")
        end = midnight_after(last)
        query = IMPRESSION_SQL.format(user=names.USER_ID, ad=names.AD_ID, item=names.ITEM_ID, category=names.CATEGORY,
                                      ts=names.EVENT_TIMESTAMP, cutoff=CUTOFF, week_start=WEEK_START_SQL.format(ts="a.ts"))
        return con.sql(query, params=[end, end, with_ghosts, end, weeks]).pl()


def split_by_time(rows: pl.DataFrame, validation_cutoffs: int = 1, test_cutoffs: int = 1,
                  horizon: timedelta = timedelta(0), at: tuple | None = None) -> dict[str, pl.DataFrame]:
    """Train on the earliest cut-offs, validate on the next, test on the latest: never a row split.
    Purged: a row's label reads events up to ``horizon`` after its as-of time (``event_timestamp``),
    and a training row whose label window ends after the first validation cut-off, or a validation
    row's after the first test cut-off, is dropped (with a warning), so no label used to train or to
    choose reads the period it is judged on. ``at``: the first validation and test cut-offs, when
    another frame's split sets them (a slice of the same rows split alike)."""
    if at is not None:
        first_validation, first_test = at
    else:
        times = sorted(rows[CUTOFF].unique().to_list())
        if len(times) < validation_cutoffs + test_cutoffs + 1:
            raise ValueError(f"{len(times)} cut-offs cannot make train, {validation_cutoffs} validation "
                             f"and {test_cutoffs} test cut-offs")
        first_validation, first_test = times[-(validation_cutoffs + test_cutoffs)], times[-test_cutoffs]
    label_end = pl.col(names.EVENT_TIMESTAMP) + horizon
    splits = {
        "train": rows.filter((pl.col(CUTOFF) < first_validation) & (label_end <= first_validation)),
        "validation": rows.filter((pl.col(CUTOFF) >= first_validation) & (pl.col(CUTOFF) < first_test)
                                  & (label_end <= first_test)),
        "test": rows.filter(pl.col(CUTOFF) >= first_test),
    }
    purged = rows.height - sum(split.height for split in splits.values())
    if purged:
        log.warning("purged %d rows whose label windows reach into the next split", purged)
    for name in ("train", "validation"):
        if splits[name].is_empty():
            raise ValueError(f"no {name} rows are left once label windows that reach into the next split are purged")
    return splits
