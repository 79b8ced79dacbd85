"""Writing a simulation into a new warehouse: catalogue and customers, each simulated day as it
is produced, then what is only known at the end (reviews, churn, campaign outcomes)."""


from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import duckdb
import numpy as np

from .. import schema
from ..arrow import to_arrow
from ..database import new_warehouse, record_info, row_counts
from . import text
from . import vocabulary as vocab
from .churn import CAUSES
from .config import MICROS_PER_SECOND, SECONDS_PER_DAY, SimulationConfig
from .engine import Simulation
from .world import World

log = logging.getLogger(__name__)
DAYS_IN_FLIGHT = 2         # simulated days whose rows may wait for the writer thread


def _insert(con: duckdb.DuckDBPyConnection, table: schema.Table, columns: dict) -> int:
    data = to_arrow(table, columns)
    con.register("incoming_rows", data)
    con.execute(f"INSERT INTO {table.qualified} SELECT * FROM incoming_rows")
    con.unregister("incoming_rows")
    return data.num_rows


def _written(inserts: list[Future]) -> None:
    for insert in inserts:
        insert.result()             # raises the writer thread's error, if any


def _write_catalog(con, world: World) -> None:
    cat, config = world.catalog, world.config
    item_ids = np.arange(1, cat.n_items + 1)
    launch = (config.start_seconds + cat.launch_day * SECONDS_PER_DAY) * MICROS_PER_SECOND
    _insert(con, schema.ITEMS, dict(
        item_id=item_ids, sku=item_ids.astype(str), title=cat.title, description=cat.description,
        category=np.array(vocab.CATEGORIES, dtype=object)[cat.category],
        subcategory=text.SUBCATEGORY_NAMES[cat.subcategory], brand=text.BRANDS.words[cat.brand],
        base_price=cat.base_price, launch_ts=launch,
    ))
    ad_ids = np.arange(1, len(cat.ad_item) + 1)
    _insert(con, schema.ADS, dict(ad_id=ad_ids, item_id=cat.ad_item + 1, creative_text=cat.ad_creative,
                                  start_ts=np.full(len(ad_ids), config.start_seconds * MICROS_PER_SECOND)))
    defective = cat.defect_day >= 0
    _insert(con, schema.TRUTH_ITEMS, dict(
        item_id=item_ids, quality=cat.quality, appeal=cat.appeal,
        category=np.array(vocab.CATEGORIES, dtype=object)[cat.category], subcategory=text.SUBCATEGORY_NAMES[cat.subcategory],
        noun=text.NOUNS.words[cat.noun], defect_ts=np.where(defective, (config.start_seconds + cat.defect_day * SECONDS_PER_DAY) * MICROS_PER_SECOND, None),
        quality_drop=np.where(defective, cat.defect_drop, 0.0)))
    _insert(con, schema.TRUTH_ADS, dict(ad_id=ad_ids, quality=cat.ad_quality))
    _insert(con, schema.TRUTH_CATEGORIES, dict(category=np.array(vocab.CATEGORIES, dtype=object),
                                               elasticity=cat.elasticity))


def _write_users(con, world: World) -> None:
    pop, config, state = world.population, world.config, world.state
    signup = (config.start_seconds + pop.signup_day * SECONDS_PER_DAY + pop.signup_second) * MICROS_PER_SECOND
    user_ids = np.arange(1, pop.n_users + 1)
    _insert(con, schema.USERS, dict(
        user_id=user_ids, signup_ts=signup, country=np.array(vocab.COUNTRIES, dtype=object)[pop.country],
        device=np.array(vocab.DEVICES, dtype=object)[pop.device],
        age_band=np.array(vocab.AGE_BANDS, dtype=object)[pop.age_band],
    ))
    churned = state.churn_day >= 0
    churn_ts = (config.start_seconds + state.churn_day * SECONDS_PER_DAY) * MICROS_PER_SECOND
    _insert(con, schema.TRUTH_USERS, dict(
        user_id=user_ids, activity=pop.activity, fade=pop.fade, price_sensitivity=pop.price_sensitivity,
        buy_affinity=pop.buy_affinity, coupon_response=pop.coupon_response, push_effect=pop.push_effect,
        open_rate=pop.open_rate, natural_hazard=pop.natural_hazard,
        favourite_category=np.array(vocab.CATEGORIES, dtype=object)[pop.taste.argmax(axis=1)],
        taste=list(pop.taste), churn_ts=np.where(churned, churn_ts, 0),
        churn_cause=np.where(churned, np.array(CAUSES, dtype=object)[state.churn_cause], None),
    ))
    con.execute(f"UPDATE {schema.TRUTH_USERS.qualified} SET churn_ts = NULL WHERE churn_cause IS NULL")


def _write_reviews(con, simulation: Simulation) -> None:
    """Reviews land only while the run lasts and before their writer churned."""
    world, (reviews, aspects) = simulation.world, simulation.reviews.collect()
    config, state = world.config, world.state
    end = (config.start_seconds + config.days * SECONDS_PER_DAY) * MICROS_PER_SECOND
    user = reviews["user"].astype(np.int64)
    silent_from = np.where(state.churn_day[user] >= 0,
                           (config.start_seconds + state.churn_day[user] * SECONDS_PER_DAY) * MICROS_PER_SECOND, end)
    keep = np.flatnonzero(reviews["ts"] < np.minimum(silent_from, end))
    keep = keep[np.argsort(reviews["ts"][keep], kind="stable")]
    ids = np.arange(1, len(keep) + 1)
    _insert(con, schema.REVIEWS, dict(review_id=ids, user_id=user[keep] + 1, item_id=reviews["item"][keep] + 1,
                                      ts=reviews["ts"][keep], rating=reviews["rating"][keep],
                                      text=reviews["text"][keep]))
    _insert(con, schema.TRUTH_REVIEWS, dict(review_id=ids, sentiment=reviews["sentiment"][keep],
                                            sarcastic=reviews["sarcastic"][keep],
                                            purchase_id=reviews["purchase"][keep]))
    review_id = np.zeros(len(reviews["ts"]), dtype=np.int64)
    review_id[keep] = ids
    owner = review_id[aspects["review"].astype(np.int64)]          # aspects are in written order per review
    written = np.arange(len(owner)) - np.searchsorted(aspects["review"], aspects["review"], side="left")
    kept = np.flatnonzero(owner > 0)
    kept = kept[np.argsort(owner[kept], kind="stable")]
    _insert(con, schema.TRUTH_REVIEW_ASPECTS, dict(
        review_id=owner[kept], position=written[kept] + 1,
        aspect=np.array(vocab.ASPECTS, dtype=object)[aspects["aspect"][kept].astype(np.int64)],
        polarity=np.array(vocab.POLARITIES, dtype=object)[aspects["polarity"][kept].astype(np.int64)],
        sentiment=aspects["sentiment"][kept]))


def _derive_campaign_outcomes(con) -> None:
    """Outcomes that need later days: a push converts on a purchase within 48 hours, a promotion
    on one while the coupon would be valid (both arms alike, so uplift can be measured)."""
    con.execute("CREATE TEMP TABLE purchase_times AS SELECT user_id, ts FROM events WHERE event_type = 'purchase'")
    con.execute("""UPDATE pushes SET converted = EXISTS (
        SELECT 1 FROM purchase_times b WHERE b.user_id = pushes.user_id
        AND b.ts >= pushes.ts AND b.ts < pushes.ts + INTERVAL 48 HOUR)""")
    con.execute("""UPDATE promotions SET purchased = EXISTS (
        SELECT 1 FROM purchase_times b WHERE b.user_id = promotions.user_id
        AND b.ts >= promotions.ts AND b.ts < promotions.ts + to_days(promotions.valid_days))""")
    con.execute("UPDATE promotions SET redeemed = coupon AND purchased")
    con.execute("DROP TABLE purchase_times")


def simulate(config: SimulationConfig, path: Path,
             on_day: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Run the simulated shop and write it to a new warehouse at ``path``. Returns row counts."""
    started = time.perf_counter()
    world = World.create(config)
    simulation = Simulation(world)
    with new_warehouse(path, with_truth=True) as con, ThreadPoolExecutor(1) as writer:
        _write_catalog(con, world)
        # the writer thread inserts each day's rows, in order, while the next days are simulated
        # (DuckDB lets go of the GIL while it inserts); at most DAYS_IN_FLIGHT days wait for it
        waiting: deque[list[Future]] = deque()
        for day in range(config.days):
            rows = simulation.step(day)
            waiting.append([writer.submit(_insert, con, table, columns) for table, columns in rows.items()])
            while len(waiting) > DAYS_IN_FLIGHT:
                _written(waiting.popleft())
            if on_day is not None:
                on_day(day + 1, config.days)
        while waiting:
            _written(waiting.popleft())
        _write_users(con, world)
        _write_reviews(con, simulation)
        _derive_campaign_outcomes(con)
        record_info(con, "simulated", {k: v for k, v in asdict(config).items() if k not in ("behaviour", "writing")})
        counts = row_counts(con, schema.CANONICAL_TABLES + schema.TRUTH_TABLES)
    log.info("simulated %d users x %d days in %.1f s", config.users, config.days, time.perf_counter() - started)
    return counts
