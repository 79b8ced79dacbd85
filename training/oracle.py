"""The oracle for tasks on simulated data: for labelled rows (user, cut-off), the probability of
each outcome given the simulator's hidden state at the cut-off (see simulator/oracle.py); for ad
slots, the click probability the simulator drew the click from and what showing the slot adds to
the chance of a purchase of the ad's item. Returns nothing for imported data, which has no
simulator behind it.

Part of that hidden state is who has already left: a churned user goes silent for good, and a
user last seen a few days before the cut-off may be gone or merely quiet. The oracle knows which;
no model of the recorded events can. ``oracle_lead`` says how much of the oracle's lead that is."""

from __future__ import annotations

import json
import logging
from datetime import date

import numpy as np
import polars as pl

from feature_repo.definitions import names
from shopml.settings import Settings
from shopml.warehouse.database import connect, has_truth
from shopml.warehouse.simulator import SimulationConfig
from shopml.warehouse.simulator.churn import CAUSES as CHURN_CAUSES
from shopml.warehouse.simulator.intensity import window_probability
from shopml.warehouse.simulator.oracle import outcome_probabilities, replay
from shopml.warehouse.simulator.reviews import review_delay_cdf
from shopml.warehouse.simulator.world import World

from .labels import CUTOFF
from .metrics import auc_skill, roc_auc

log = logging.getLogger(__name__)


def simulation_config(settings: Settings) -> SimulationConfig | None:
    with connect(settings.warehouse_path) as con:
        info = con.execute("SELECT source, parameters FROM warehouse_info").fetchall()
    if not info or info[0][0] != "simulated":
        return None
    parameters = json.loads(info[0][1])
    parameters["start"] = date.fromisoformat(parameters["start"])
    return SimulationConfig(**parameters)


def whatif_start(settings: Settings, days_before_end: int = 0) -> tuple[SimulationConfig, int, World]:
    """Where the what-if shop starts: the simulated shop's config, the day ``days_before_end``
    days before the end of its data, and the world as it stood at 00:00 of that day (a
    ``ValueError`` for an imported warehouse: no simulator to continue)."""
    config = simulation_config(settings)
    if config is None:
        raise ValueError("the what-if shop continues a simulated shop: this warehouse was imported")
    day = config.days - days_before_end
    return config, day, replay(config, day)


# our outcomes -> the simulator's (no event: one minus P(any event))
ORACLE_OUTCOMES = {"purchase": "purchase", "cart": "cart", "no_event": "any_event"}


def oracle_probabilities(settings: Settings, rows: pl.DataFrame, horizon_days: int, futures: int,
                         outcomes: tuple[str, ...] = tuple(ORACLE_OUTCOMES)) -> dict[str, np.ndarray] | None:
    """Per row of ``rows`` (user_id, cutoff), P(purchase), P(cart) and P(no event) over the horizon,
    or those of them in ``outcomes`` (the fewer, the sooner a simulated future is settled)."""
    config = simulation_config(settings)
    if config is None or futures <= 0:
        return None
    simulated = tuple(ORACLE_OUTCOMES[outcome] for outcome in outcomes)
    out = {outcome: np.zeros(rows.height) for outcome in outcomes}
    indexed = rows.select(names.USER_ID, CUTOFF).with_row_index("row")
    for (cutoff,), part in indexed.group_by(CUTOFF, maintain_order=True):
        day = (cutoff - config.start_time).days
        estimate = outcome_probabilities(replay(config, day), part[names.USER_ID].to_numpy() - 1, day,
                                         horizon_days, futures=futures, outcomes=simulated)
        at = part["row"].to_numpy()
        for outcome, of_simulator in zip(outcomes, simulated):
            p = estimate.probability[of_simulator]
            out[outcome][at] = 1 - p if outcome == "no_event" else p
    return out


ENGAGEMENTS = ("like", "favorite", "share")   # truth.user_days holds P(at least one) per day
ENGAGEMENT_DAYS_SQL = """
SELECT w.row, datediff('day', CAST(w.{cutoff} AS DATE), d.day) AS k, d.p_churn, d.p_purchase, {probabilities}
FROM wanted w JOIN truth.user_days d ON d.user_id = w.{user}
 AND d.day >= CAST(w.{cutoff} AS DATE) AND d.day < CAST(w.{cutoff} AS DATE) + {horizon}
"""
# each row's purchases whose review may still come: its age in days at the cut-off, P(review),
# and whether the review has already been written
PENDING_REVIEWS_SQL = """
SELECT w.row, epoch(w.{cutoff} - e.ts) / 86400.0 AS age_days, p.p_review, coalesce(r.ts < w.{cutoff}, false) AS written
FROM wanted w
JOIN events e ON e.user_id = w.{user} AND e.event_type = 'purchase'
 AND e.ts < w.{cutoff} AND e.ts >= w.{cutoff} - INTERVAL {lookback} DAY
JOIN truth.purchases p USING (event_id)
LEFT JOIN truth.reviews t ON t.purchase_id = e.event_id LEFT JOIN reviews r USING (review_id)
"""
# the shop's purchases: P(review) on average, items bought on a buying day, and a sample of the
# times of day (as a share of the day) purchases are made at
PURCHASE_HABITS_SQL = """
SELECT avg(p.p_review), count(*) / count(DISTINCT (e.user_id, CAST(e.ts AS DATE))),
       (list(epoch(e.ts - date_trunc('day', e.ts)) / 86400.0 ORDER BY e.event_id))[:{sample}]
FROM events e JOIN truth.purchases p USING (event_id) WHERE e.event_type = 'purchase'
"""
TIME_OF_DAY_SAMPLE = 2_000


def engagement_oracle(settings: Settings, rows: pl.DataFrame, horizon_days: int) -> dict[str, np.ndarray] | None:
    """Per row of ``rows`` (user_id, cutoff at 00:00 UTC), P(at least one like, favourite, share in
    the horizon) from the simulator's exact daily probabilities (``truth.user_days``), and P(a
    review) from the reviews still to come of earlier purchases and the week's purchases
    (``review_rates``). Each day takes the rate recorded while the user was there and the last
    recorded one after; the churn probability is held at the cut-off day's, as
    ``World.purchase_window`` does, so the oracle does not know whether the user leaves in the
    window. A user gone by the cut-off: 0."""
    with connect(settings.warehouse_path) as con:
        if not has_truth(con):
            return None
        con.register("wanted", rows.select(names.USER_ID, CUTOFF).with_row_index("row").to_arrow())
        days = con.sql(ENGAGEMENT_DAYS_SQL.format(
            cutoff=CUTOFF, user=names.USER_ID, horizon=horizon_days,
            probabilities=", ".join(f"d.p_{kind}" for kind in ENGAGEMENTS))).pl()
    row, k = days["row"].to_numpy(), days["k"].to_numpy()
    there = np.zeros((rows.height, horizon_days), dtype=bool)
    there[row, k] = True
    # each day's column index of the latest day the user was there, to carry its rate forward
    latest = np.maximum.accumulate(np.where(there, np.arange(horizon_days), 0), axis=1)
    p_churn = np.zeros(rows.height)
    p_churn[row[k == 0]] = days["p_churn"].to_numpy()[k == 0]

    def daily_rates(p_daily: np.ndarray) -> np.ndarray:        # P(at least one) = 1 - exp(-rate)
        rate = np.zeros((rows.height, horizon_days))
        rate[row, k] = -np.log1p(-p_daily)
        return np.take_along_axis(rate, latest, axis=1)

    rates = {kind: daily_rates(days[f"p_{kind}"].to_numpy()) for kind in ENGAGEMENTS}
    rates["review"] = review_rates(settings, rows, horizon_days, daily_rates(days["p_purchase"].to_numpy()))
    return {kind: window_probability(list(rate.T), p_churn) * there[:, 0] for kind, rate in rates.items()}


def review_rates(settings: Settings, rows: pl.DataFrame, horizon_days: int,
                 purchase_rates: np.ndarray) -> np.ndarray:
    """(rows, horizon days): each day's expected number of reviews by the row's user, given the
    cut-off. A review is drawn at its purchase (``truth.purchases.p_review``) and comes a random
    delay later (``reviews.review_delay_cdf``), so each purchase made before the cut-off whose
    review has not been written adds, on day k, its chance of landing that day given it has not
    come yet; each day of the window adds the items expected to be bought on it (P(a purchase that
    day), from ``purchase_rates``, times the shop's items per buying day) times the shop's mean
    P(review) and the chance that the delay lands on day k."""
    behaviour = simulation_config(settings).behaviour
    lookback = int(np.ceil(behaviour.review_delay_min_days + 15 * behaviour.review_delay_mean_days))
    with connect(settings.warehouse_path) as con:
        con.register("wanted", rows.select(names.USER_ID, CUTOFF).with_row_index("row").to_arrow())
        pending = con.sql(PENDING_REVIEWS_SQL.format(cutoff=CUTOFF, user=names.USER_ID, lookback=lookback)).pl()
        habits = con.sql(PURCHASE_HABITS_SQL.format(sample=TIME_OF_DAY_SAMPLE)).fetchall()[0]
    p_review, items_per_day, time_of_day = habits[0], habits[1], np.asarray(habits[2])
    pending = pending.filter(~pl.col("written"))
    row, age, p = pending["row"].to_numpy(), pending["age_days"].to_numpy(), pending["p_review"].to_numpy()
    rates = np.zeros((rows.height, horizon_days))
    for day in range(horizon_days):
        come_by_start, come_by_end = (review_delay_cdf(age + offset, behaviour) for offset in (day, day + 1))
        lands_today = p * (come_by_end - come_by_start) / (1 - p * come_by_start)
        np.add.at(rates[:, day], row, -np.log1p(-lands_today))
    # P(a review drawn for a purchase made on some day lands ``lag`` days later), over the times of day
    lands_after = [np.mean(review_delay_cdf(lag + 1 - time_of_day, behaviour)
                           - review_delay_cdf(lag - time_of_day, behaviour)) for lag in range(horizon_days)]
    expected_reviews = -np.expm1(-purchase_rates) * items_per_day * p_review     # to come of each day's purchases
    for day in range(horizon_days):
        rates[:, day] += sum(expected_reviews[:, bought] * lands_after[day - bought] for bought in range(day + 1))
    return rates


def oracle_click_probabilities(settings: Settings, impression_ids: np.ndarray) -> np.ndarray | None:
    """Per ad slot (``impression_id``), the probability of the click it was drawn with."""
    return _ad_slot_truth(settings, impression_ids, "p_click", needs="p_click")


def oracle_incremental_conversions(settings: Settings, impression_ids: np.ndarray) -> np.ndarray | None:
    """Per ad slot, what showing it adds to the chance that its session buys the ad's item (shown
    less hidden, given the rest of the session); None for a warehouse simulated before the truth
    held it (simulate again for it)."""
    return _ad_slot_truth(settings, impression_ids, "p_convert_shown - p_convert_hidden", needs="p_convert_shown")


def _ad_slot_truth(settings: Settings, impression_ids: np.ndarray, expression: str, needs: str) -> np.ndarray | None:
    """``expression`` over ``truth.ad_impressions`` per slot, in the ids' order; None without the
    truth or without its column ``needs``."""
    with connect(settings.warehouse_path) as con:
        if not has_truth(con):
            return None
        column = con.sql("""SELECT 1 FROM information_schema.columns WHERE table_schema = 'truth'
                            AND table_name = 'ad_impressions' AND column_name = ?""", params=[needs])
        if not column.fetchall():
            log.warning("the warehouse's truth has no %s (simulated by an earlier version): simulate again for it",
                        needs)
            return None
        con.register("wanted", pl.DataFrame({"impression_id": impression_ids}).with_row_index("row").to_arrow())
        found = con.sql(f"""SELECT w.row, {expression} AS truth FROM wanted w
                            JOIN truth.ad_impressions t USING (impression_id) ORDER BY w.row""").pl()
    if found.height != len(impression_ids):
        raise ValueError(f"{len(impression_ids) - found.height} ad slots have no recorded truth")
    return found["truth"].to_numpy()


def departed_by_cutoff(settings: Settings, rows: pl.DataFrame) -> np.ndarray | None:
    """Per row of ``rows`` (user_id, cutoff), whether the user had left for good by the cut-off."""
    with connect(settings.warehouse_path) as con:
        if not has_truth(con):
            return None
        con.register("wanted", rows.select(names.USER_ID, CUTOFF).with_row_index("row").to_arrow())
        found = con.sql(f"""SELECT w.row, coalesce(u.churn_ts <= w.{CUTOFF}, false) AS departed
                            FROM wanted w JOIN truth.users u USING ({names.USER_ID}) ORDER BY w.row""").pl()
    if found.height != rows.height:
        raise ValueError(f"{rows.height - found.height} users are missing from the simulator's truth")
    return found["departed"].to_numpy()


def oracle_lead(labels: np.ndarray, model: np.ndarray, oracle: np.ndarray, departed: np.ndarray,
                if_departed: float) -> dict[str, float]:
    """A diagnostic that uses hidden truth: how much of the oracle's AUC lead over the model is
    knowing who has left. The share of test rows (and of positives) already departed at the
    cut-off, the model's skill and AUC ratio against the oracle among the users still there, and
    the same when the model is told who has left (``if_departed`` is the outcome's certain
    probability for them: 1 for no event, 0 for a purchase). No model can be told this."""
    stayed = ~departed
    told = np.where(departed, if_departed, model)
    oracle_auc, stayed_oracle_auc = roc_auc(labels, oracle), roc_auc(labels[stayed], oracle[stayed])
    stayed_auc, told_auc = roc_auc(labels[stayed], model[stayed]), roc_auc(labels, told)
    return {"departed_share": float(departed.mean()),
            "departed_share_of_positives": float(departed[labels == 1].mean()) if labels.any() else 0.0,
            "stayed_model_skill": auc_skill(stayed_auc, stayed_oracle_auc),
            "stayed_model_over_oracle_auc": stayed_auc / stayed_oracle_auc,
            "told_model_skill": auc_skill(told_auc, oracle_auc),
            "told_model_over_oracle_auc": told_auc / oracle_auc}


def describe_oracle_lead(metrics: dict) -> str | None:
    """One sentence on ``oracle_lead``'s figures in a head's metrics (None when there are none)."""
    if "told_model_over_oracle_auc" not in metrics:
        return None
    return (f"Diagnostic from hidden truth: left for good by the cut-off, which only the oracle knows: "
            f"{metrics['departed_share']:.1%} of test users, {metrics['departed_share_of_positives']:.1%} of positives. "
            f"Among the users still there, skill {metrics['stayed_model_skill']:.3f} (AUC ratio "
            f"{metrics['stayed_model_over_oracle_auc']:.3f}); told who has left, skill {metrics['told_model_skill']:.3f} "
            f"(AUC ratio {metrics['told_model_over_oracle_auc']:.3f}).")


HAZARD_COLUMNS = tuple(f"hazard_{cause.removesuffix('_decay')}" for cause in CHURN_CAUSES)


def category_elasticities(settings: Settings, first: date, last: date) -> dict[str, float] | None:
    """The simulator's short-run price elasticity per category (``truth.category_days``), averaged
    over the days ``first`` .. ``last``; None on imported data (no truth)."""
    with connect(settings.warehouse_path) as con:
        if not has_truth(con):
            return None
        rows = con.execute("""SELECT category, avg(price_elasticity) FROM truth.category_days
                              WHERE day BETWEEN ? AND ? GROUP BY 1""", [first, last]).fetchall()
    return {category: float(value) for category, value in rows}


def hidden_user_traits(settings: Settings, users: np.ndarray, traits: str) -> pl.DataFrame | None:
    """The simulator's hidden traits of these users, one row each in their order: ``traits`` are
    SQL select expressions over ``truth.users t``. None on imported data (no truth)."""
    with connect(settings.warehouse_path) as con:
        if not has_truth(con):
            return None
        con.register("wanted", pl.DataFrame({names.USER_ID: users}).with_row_index("row").to_arrow())
        found = con.sql(f"SELECT w.row, {traits} FROM wanted w JOIN truth.users t USING ({names.USER_ID}) "
                        "ORDER BY w.row").pl()
    if found.height != len(users):
        raise ValueError(f"{len(users) - found.height} users have no hidden traits")
    return found.drop("row")


def oracle_churn_causes(settings: Settings, rows: pl.DataFrame, as_of_cutoff: bool = False) -> np.ndarray | None:
    """Per churned row (user_id, cutoff), the cause the simulator's hidden state makes likeliest:
    the largest of the user's churn hazards on the day the churn was drawn (the day before the
    first silent one), as the recorded cause is drawn in proportion to them. ``as_of_cutoff``
    reads them on the last day known at the cut-off instead (the day before it, or the churn day
    for a user already gone). None for imported data."""
    day = "least(CAST(w.{CUTOFF} AS DATE), CAST(u.churn_ts AS DATE))" if as_of_cutoff else "CAST(u.churn_ts AS DATE)"
    with connect(settings.warehouse_path) as con:
        if not has_truth(con):
            return None
        con.register("wanted", rows.select(names.USER_ID, CUTOFF).with_row_index("row").to_arrow())
        found = con.sql(f"""SELECT w.row, {', '.join(f'd.{c}' for c in HAZARD_COLUMNS)}
                            FROM wanted w JOIN truth.users u USING ({names.USER_ID})
                            JOIN truth.user_days d ON d.user_id = u.user_id
                             AND d.day = {day.format(CUTOFF=CUTOFF)} - INTERVAL 1 DAY
                            ORDER BY w.row""").pl()
    if found.height != rows.height:
        raise ValueError(f"{rows.height - found.height} churned users have no hazards on the day asked")
    return np.asarray(CHURN_CAUSES, dtype=object)[found.select(HAZARD_COLUMNS).to_numpy().argmax(axis=1)]


def describe_reason_agreement(metrics: dict) -> str:
    """One sentence on the churn reasons' agreement with the recorded causes and its references."""
    return (f"The top reason names the simulator's recorded cause for {metrics['reason_agreement']:.1%} of "
            f"{metrics['reason_agreement_rows']:,} churned test users; always naming the validation churners' most "
            f"common cause ({metrics['reason_majority_cause']}) {metrics['reason_agreement_majority']:.1%}; the oracle "
            f"(the largest true hazard on the churn day) {metrics['reason_agreement_oracle']:.1%}. Model/oracle "
            f"{metrics['reason_agreement_over_oracle']:.3f}, skill over the majority baseline "
            f"{metrics['reason_agreement_skill']:.3f}.")
