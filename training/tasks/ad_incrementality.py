"""Ad incrementality: what showing an ad adds, in clicks and in purchases of its item, measured on
the randomised holdout slots (chosen for an ad, never shown: ghost ads), per ad and per campaign
(the advertised item's category).

Over the latest ``window_days``: per ad, the shown slots' click and conversion rates (a
conversion: the session bought the ad's item after the slot) against the held-out slots'
conversion rate. A ghost cannot be clicked, so every click is incremental; the incremental
conversion rate is the shown rate less the held-out rate. Intervals by bootstrap: resampling a
group's slots with replacement, each arm's count is binomial at its observed rate, drawn
``bootstrap`` times (percentile intervals).

Checked against the truth on the simulated shop: every slot's true click probability had it been
shown (``truth.ad_impressions``, ghosts included) for the clicks; for the conversions, the what-if
shop (``simulator.whatif``) run on from the end of the data with every ad shown and with every
slot a ghost, on the same random numbers: the difference in ad conversions per shown slot is the
true incremental rate, and the difference in all units sold per shown slot says how much of it
is taken from other purchases.

New ad policies (``policies``: the share of slots filled from the page category's ads; the log's
is half) are evaluated off the log by IPS, the direct method and doubly robust
(``training.ad_policies``), each beside the what-if shop's value for the same policy. Not
served: the audience endpoint that targets by incremental conversions is next.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from shopml.model_store import save_artifact
from shopml.settings import Settings
from shopml.warehouse.database import connect, has_truth

from ..ad_policies import arm_rates, off_policy_values
from ..evaluation import Evaluation
from ..kinds import Tabled
from ..task import task_labels

PER_CAMPAIGN = "per campaign (the advertised item's category), latest window"
AGAINST_TRUTH = "all ads against the truth"
PER_AD_COVERAGE = "per ad, the estimates against the truth"
HOLDOUT, TRUTH, WHATIF = "holdout estimate", "truth (click probabilities)", "what-if shop (ads on vs all ghosts)"
ALL_ADS = "all ads"
OFF_POLICY = "new ad policies, off the log and in the what-if shop (per 1,000 shown slots)"


@dataclass(frozen=True)
class AdIncrementalityConfig:
    window_days: int = 28
    bootstrap: int = 2000
    confidence: float = 0.95
    whatif_seeds: int = 10          # paired futures of the what-if check (0: none)
    whatif_days: int = 7
    policies: tuple[float, ...] = (1.0, 0.0)    # new ad policies to evaluate off the log: their targeted shares
    seed: int = 7

    def __post_init__(self):
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be between 0 and 1, got {self.confidence}")


@dataclass
class AdSlots:
    per_ad: pl.DataFrame          # ad_id, campaign, shown, held_out, clicks, shown_conversions, held_out_conversions[, true_click_rate]
    days: tuple[str, str]
    shown: pl.DataFrame           # every shown slot: ad and page codes, propensity, clicked, converted, in_window
    ad_category: np.ndarray       # per ad code, its category's code
    categories: int


# ads and categories as codes 0..n-1 (ads by id, categories by name), as the off-policy arrays index them
CODES_SQL = """
    WITH codes AS (SELECT category, CAST(row_number() OVER (ORDER BY category) - 1 AS INTEGER) AS code
                   FROM (SELECT DISTINCT category FROM items)),
         ad_codes AS (SELECT ad_id, CAST(row_number() OVER (ORDER BY ad_id) - 1 AS INTEGER) AS ad, c.code AS ad_category
                      FROM ads JOIN items USING (item_id) JOIN codes c USING (category))"""


def shown_slots_sql(window_days: int) -> str:
    """Every shown slot with its ad and page category as codes (``CODES_SQL``), in the log's order:
    the bootstrap draws rows by position, so the same log must give the same rows in the same order."""
    return f"""{CODES_SQL}
        SELECT a.ad, c.code AS page, s.propensity, s.clicked::INTEGER AS clicked, s.converted::INTEGER AS converted,
               s.ts >= (SELECT max(ts) FROM ad_impressions) - INTERVAL ({window_days}) DAY AS in_window
        FROM ad_impressions s JOIN ad_codes a USING (ad_id) JOIN codes c ON c.category = s.page_category
        WHERE NOT s.in_holdout
        ORDER BY s.impression_id"""


def slot_counts_sql(window_days: int, truth: bool) -> str:
    true_click = ", avg(t.p_click) AS true_click_rate" if truth else ""
    join_truth = "JOIN truth.ad_impressions t USING (impression_id)" if truth else ""
    return f"""
        SELECT s.ad_id, i.category AS campaign,
               count(*) FILTER (WHERE NOT s.in_holdout) AS shown,
               count(*) FILTER (WHERE s.in_holdout) AS held_out,
               count(*) FILTER (WHERE s.clicked AND NOT s.in_holdout) AS clicks,
               count(*) FILTER (WHERE s.converted AND NOT s.in_holdout) AS shown_conversions,
               count(*) FILTER (WHERE s.converted AND s.in_holdout) AS held_out_conversions {true_click}
        FROM ad_impressions s JOIN ads USING (ad_id) JOIN items i USING (item_id) {join_truth}
        WHERE s.ts >= (SELECT max(ts) FROM ad_impressions) - INTERVAL ({window_days}) DAY
        GROUP BY ALL ORDER BY s.ad_id"""


def estimate(counts: pl.DataFrame, bootstrap: int, confidence: float, seed: int) -> dict[str, np.ndarray]:
    """Per row of ``counts``: clicks and incremental conversions per 1,000 shown slots, with their
    bootstrap intervals (nan where an arm is empty)."""
    rng = np.random.default_rng(seed)
    shown, held = counts["shown"].to_numpy(), counts["held_out"].to_numpy()
    rate = lambda hits, n: np.divide(hits, n, out=np.full(len(n), np.nan), where=n > 0)   # noqa: E731
    click, converted, baseline = (rate(counts[c].to_numpy(), n) for c, n in (
        ("clicks", shown), ("shown_conversions", shown), ("held_out_conversions", held)))
    draws = lambda p, n: rng.binomial(n[:, None], np.nan_to_num(p)[:, None], (len(n), bootstrap)) \
        / np.maximum(n, 1)[:, None]                                                        # noqa: E731
    tails = (100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2)
    click_draws, lift_draws = draws(click, shown), draws(converted, shown) - draws(baseline, held)
    out = {"clicks_per_1000": 1000 * click, "incremental_conversions_per_1000": 1000 * (converted - baseline)}
    for name, sampled in (("clicks_per_1000", click_draws), ("incremental_conversions_per_1000", lift_draws)):
        low, high = np.percentile(1000 * sampled, tails, axis=1)
        empty = np.isnan(out[name])
        out[f"{name}_low"], out[f"{name}_high"] = np.where(empty, np.nan, low), np.where(empty, np.nan, high)
    return out


def grouped(per_ad: pl.DataFrame, by: str | None) -> pl.DataFrame:
    """The counts summed per ``by`` (every ad together when None), with the truth's mean weighted by slots."""
    sums = [pl.col(c).sum() for c in ("shown", "held_out", "clicks", "shown_conversions", "held_out_conversions")]
    if "true_click_rate" in per_ad.columns:
        sums.append(((pl.col("true_click_rate") * (pl.col("shown") + pl.col("held_out"))).sum()
                     / (pl.col("shown") + pl.col("held_out")).sum()).alias("true_click_rate"))
    if by is None:
        return per_ad.select(pl.lit(ALL_ADS).alias("group"), *sums)
    return per_ad.group_by(pl.col(by).alias("group")).agg(*sums).sort("group")


NO_ADS = "every slot a ghost"


def policy_name(targeted_share: float) -> str:
    return f"{100 * targeted_share:.0f}% of slots from the page's category"


def whatif_arms(settings: Settings, config: AdIncrementalityConfig) -> dict[str, list] | None:
    """The shop run on from the end of its data, as it is, with every slot a ghost and under each
    new ad policy, on the same random numbers (None: not simulated, or no seeds)."""
    from shopml.warehouse.simulator.oracle import replay
    from shopml.warehouse.simulator.whatif import Policy, run_arms

    from ..oracle import simulation_config

    simulation = simulation_config(settings)
    if simulation is None or config.whatif_seeds < 2:
        return None
    policies = {NO_ADS: Policy(show_ads=False),
                **{policy_name(share): Policy(ad_targeted_share=share) for share in config.policies}}
    return run_arms(replay(simulation, simulation.days), simulation.days, config.whatif_days, policies,
                    config.whatif_seeds)


def incremental_truth(outcomes: dict[str, list], confidence: float) -> dict[str, float]:
    """The true incremental ad conversions, and the change in all units sold, per 1,000 shown
    slots: every ad shown against every slot a ghost."""
    from shopml.warehouse.simulator.whatif import STATUS_QUO, summarise

    found = summarise(outcomes, reference=NO_ADS, confidence=confidence)[STATUS_QUO]
    per_1000 = 1000 / found["ad_slots_shown"]
    return {f"{name}{suffix}": found[f"{measure}_change{suffix}"] * per_1000
            for name, measure in (("incremental_conversions_per_1000", "ad_conversions"), ("units_per_1000", "units"))
            for suffix in ("", "_low", "_high")}


@dataclass
class AdEffects:
    per_ad: pl.DataFrame
    per_campaign: pl.DataFrame
    overall: pl.DataFrame


class AdIncrementalityTask:
    name = "ad_incrementality"
    question = "What does showing each ad really add, in clicks and in purchases?"
    family = "marketing"
    entity = "ad"
    feature_service = "ad_impressions"        # no feature view: counts of the slot log itself
    config_type = AdIncrementalityConfig
    evaluation = Tabled("uplift", AGAINST_TRUTH, model=HOLDOUT, reference=WHATIF,
                        metric="incremental_conversions_per_1000", label="incremental conversions per 1,000 ad slots")

    def build_dataset(self, config: AdIncrementalityConfig, settings: Settings) -> AdSlots:
        with connect(settings.warehouse_path) as con:
            truth = has_truth(con)
            per_ad = con.sql(slot_counts_sql(config.window_days, truth)).pl()
            first, last = con.sql(f"""SELECT CAST(max(ts) - INTERVAL ({config.window_days}) DAY AS DATE),
                                             CAST(max(ts) AS DATE) FROM ad_impressions""").fetchall()[0]
            shown = con.sql(shown_slots_sql(config.window_days)).pl()
            ad_category = con.sql(f"{CODES_SQL} SELECT ad_category FROM ad_codes ORDER BY ad").fetchnumpy()
            categories = int(con.sql(f"{CODES_SQL} SELECT count(*) FROM codes").fetchall()[0][0])
        if per_ad.is_empty():
            raise ValueError("the warehouse has no ad slots in the window")
        return AdSlots(per_ad, (str(first), str(last)), shown, ad_category["ad_category"].astype(np.int64), categories)

    def train(self, config: AdIncrementalityConfig, data: AdSlots) -> AdEffects:
        def with_estimates(frame: pl.DataFrame) -> pl.DataFrame:
            return frame.with_columns(**{k: pl.Series(v) for k, v in
                                         estimate(frame, config.bootstrap, config.confidence, config.seed).items()})
        return AdEffects(with_estimates(data.per_ad), with_estimates(grouped(data.per_ad, "campaign")),
                         with_estimates(grouped(data.per_ad, None)))

    def choose(self, config: AdIncrementalityConfig, model: AdEffects, data: AdSlots,
               settings: Settings) -> AdIncrementalityConfig:
        return config                                    # an estimate: nothing to choose

    def evaluate(self, config: AdIncrementalityConfig, model: AdEffects, data: AdSlots,
                 settings: Settings) -> Evaluation:
        shown = ("shown", "held_out", "clicks_per_1000", "clicks_per_1000_low", "clicks_per_1000_high",
                 "incremental_conversions_per_1000", "incremental_conversions_per_1000_low",
                 "incremental_conversions_per_1000_high")
        rows = lambda frame: {str(r["group"]): {k: float(r[k]) for k in shown} for r in frame.iter_rows(named=True)}  # noqa: E731
        tables = {PER_CAMPAIGN: rows(model.per_campaign) | rows(model.overall)}
        overall = model.overall.row(0, named=True)
        against = {HOLDOUT: {k: float(overall[k]) for k in shown[2:]}}
        if "true_click_rate" in model.per_ad.columns:
            against[TRUTH] = {"clicks_per_1000": 1000 * float(overall["true_click_rate"])}
            tables[PER_AD_COVERAGE] = {"clicks": per_ad_coverage(model.per_ad)}
        outcomes = whatif_arms(settings, config)
        if outcomes is not None:
            against[WHATIF] = incremental_truth(outcomes, config.confidence)
        tables[OFF_POLICY] = off_policy_table(config, data, outcomes)
        columns = [*shown[2:], *(f"units_per_1000{suffix}" for suffix in ("", "_low", "_high"))]
        tables[AGAINST_TRUTH] = {row: {c: values.get(c, float("nan")) for c in columns} for row, values in against.items()}
        return Evaluation(heads={}, tables=tables)

    def save(self, config: AdIncrementalityConfig, model: AdEffects, data: AdSlots, metrics: dict,
             settings: Settings) -> str:
        metadata = {"config": config.__dict__, "metrics": metrics, "days": list(data.days),
                    "per_ad": model.per_ad.drop("true_click_rate", strict=False).to_dicts()}
        return save_artifact(self.name, task_labels(self), metadata, settings, lambda folder: None)


def per_ad_coverage(per_ad: pl.DataFrame) -> dict[str, float]:
    """How the per-ad click estimates stand against each ad's true click rate: the share of 95%
    intervals that cover it, and the mean absolute error per 1,000 slots."""
    truth = 1000 * per_ad["true_click_rate"].to_numpy()
    low, high = per_ad["clicks_per_1000_low"].to_numpy(), per_ad["clicks_per_1000_high"].to_numpy()
    known = ~np.isnan(low)
    covered = (low <= truth) & (truth <= high)
    return {"ads": float(known.sum()), "coverage": float(covered[known].mean()) if known.any() else float("nan"),
            "mae_per_1000": float(np.mean(np.abs(per_ad["clicks_per_1000"].to_numpy() - truth)[known]))}


def off_policy_table(config: AdIncrementalityConfig, data: AdSlots,
                     outcomes: dict[str, list] | None) -> dict[str, dict[str, float]]:
    """Per new policy, its clicks and conversions per 1,000 shown slots by IPS, DM and DR from the
    window's slots (the reward model fitted on the slots before it), beside the what-if shop's."""
    window = data.shown.filter(pl.col("in_window"))
    before = data.shown.filter(~pl.col("in_window"))
    table = {}
    for share in config.policies:
        found = off_policy_values(window, before, data.ad_category, data.categories, share, config.bootstrap,
                                  config.confidence, config.seed)
        if not table:
            table["logged policy: on the log"] = found["logged policy, on the log"]
            if outcomes is not None:
                from shopml.warehouse.simulator.whatif import STATUS_QUO

                table["logged policy: what-if shop"] = arm_rates(outcomes[STATUS_QUO], config.confidence)
        name = policy_name(share)
        table |= {f"{name}: {estimator}": found[estimator] for estimator in ("IPS", "DM", "DR")}
        if outcomes is not None:
            table[f"{name}: what-if shop"] = arm_rates(outcomes[name], config.confidence)
    return table
