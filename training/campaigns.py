"""A campaign's uplift task: who buys because of a send (a coupon, a push), how much more they
spend, who a send puts off, and what a plan built on that is worth.

Rows are the sends of a campaign table, treated or held out at random, each with the outcome in
its window and the user's ``churn_v1`` features as of the send. Splits are the send days: test the
latest whose windows the data covers, validation the ones before, purged (``training.labels``).
The learners are ``training.uplift``'s, chosen by validation Qini, for the purchase in the window
and, with regressors per arm, for the spend in it (paid, so net of a coupon's discount).

A send that can put users off (a push: the simulator's users with a negative push effect visit
less after one, and its fatigue drives them away) gets two more uplift models. One on a visit in
the window: whoever it predicts to visit less is put off, and no plan sends to them. One on the
harm that lasts, a user silent all through the ``harm_days`` after the window (``LOST``): its
uplift is the send's expected harm, the chance it adds that the user is gone, which a plan
reports and may cap. Its rows are the sends the data covers that long after, split by time with
that longer horizon (``harm_split``). On the simulated shop both are judged against the truth (the
sends whose campaign's effect on the user is negative), and the harm's average against the
difference the randomised arms show.

Where a send comes in several campaigns (pushes: what the push says), the campaign is a feature
of every model (``CAMPAIGN``), so each predicts the uplift of any campaign the data holds, and a
plan sends each user the campaign with the highest predicted uplift among those not predicted to
put the user off (``CampaignModel.choose``).

Judged on the test sends (``training.uplift.evaluate_uplift``), then in the what-if shop
(``training.campaign_plan``): one more campaign after the data, planned by the model, by
propensity, at random and by the oracle.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta

import numpy as np
import polars as pl

from feature_repo.definitions import names
from shopml.matrix import FeatureLayout
from shopml.settings import Settings
from shopml.warehouse.database import connect, has_truth

from .boosting import save_task_model
from .campaign_plan import campaign_whatif
from .datasets import point_in_time_dataset
from .evaluation import Evaluation
from .kinds import Tabled
from .labels import CUTOFF, split_by_time
from .metrics.binary import roc_auc
from .uplift import MODEL, OUTCOME, PROPENSITY, RANDOM, TEST_SENDS, TREATED, UpliftConfig, UpliftModel, \
    choose_learner, evaluate_uplift, uplift_figures

log = logging.getLogger(__name__)

VISITED, SPEND, LOST = "visited", "spend", "lost"
CAMPAIGN = "send__campaign"          # the campaign a send carried: a feature where a send has several
SPEND_TABLE = "test sends, spend in the window (targeting by each score)"
BUYER_SPEND, BUYERS = "spend of a buyer in the window (test sends)", "buyers"
PUT_OFF_TABLE = "who a send puts off (test sends, against the truth)"
HARM_TABLE = "who a send drives away: silent all through the days after the window (the harm's test sends)"
HARM_AVERAGE = "the harm on average: predicted against the randomised arms (the harm's test sends)"
HARM_MODEL, VISIT_MODEL, TRULY_PUT_OFF = "harm model", "visit model (less likely to visit)", "truly put off (oracle)"
WHATIF_PLANS = "what-if shop: one more campaign after the data, per plan"
WHATIF_MARGINS = "what-if shop: the uplift model's plan against each other plan"
WHATIF_CHOICE = "what-if shop: the model's choice of campaign against the truth"


@dataclass(frozen=True)
class Sends:
    """Where a campaign's randomised sends are: their table, id, arm and outcome columns, the
    window the outcome (and the spend, paid, so net of a coupon's discount) is read over, the truth
    table of their true uplift, what is sent (coupon or push) and whether it can put users off
    (then a visit in the window is modelled too)."""
    table: str
    id_column: str
    treatment: str
    outcome: str
    window_days: float
    truth: str
    send: str
    can_put_off: bool = False
    campaign_column: str | None = None     # where sends come in several campaigns, the column naming it

    def rows_sql(self, harm_days: int) -> str:
        """The sends whose window the data covers; for a send that can put off, whether the user
        visited in the window and whether they were silent all through the ``harm_days`` after it
        (null where the data ends before)."""
        window = f"INTERVAL (CAST({self.window_days * 24} AS INTEGER)) HOUR"
        data_end = "(SELECT CAST(max(ts) AS DATE) + 1 FROM events)"
        harm_end = f"s.ts + {window} + INTERVAL ({int(harm_days)}) DAY"
        visited = (f""", EXISTS (SELECT 1 FROM events e WHERE e.user_id = s.user_id AND e.ts >= s.ts
                                  AND e.ts < s.ts + {window})::INTEGER AS {VISITED},
                         CASE WHEN {harm_end} <= {data_end}
                              THEN NOT EXISTS (SELECT 1 FROM events e WHERE e.user_id = s.user_id
                                               AND e.ts >= s.ts + {window} AND e.ts < {harm_end})::INTEGER
                         END AS {LOST}""" if self.can_put_off else "")
        campaign = f", s.{self.campaign_column} AS {CAMPAIGN}" if self.campaign_column else ""
        return f"""SELECT s.{self.id_column} AS send_id, s.user_id AS {names.USER_ID}, s.ts AS {names.EVENT_TIMESTAMP},
                          s.ts AS {CUTOFF}, CAST(s.{self.treatment} AS INTEGER) AS {TREATED},
                          CAST(s.{self.outcome} AS INTEGER) AS {OUTCOME} {visited} {campaign},
                          (SELECT CAST(coalesce(sum(e.price * e.quantity), 0) AS DOUBLE) FROM events e
                           WHERE e.user_id = s.user_id AND e.event_type = 'purchase' AND e.ts >= s.ts
                                 AND e.ts < s.ts + {window}) AS {SPEND}
                   FROM {self.table} s
                   WHERE s.ts + {window} <= {data_end}
                   ORDER BY s.ts, s.{self.id_column}"""


@dataclass
class UpliftData:
    splits: dict[str, pl.DataFrame]
    layout: FeatureLayout
    harm_splits: dict[str, pl.DataFrame] | None = None    # the sends covered ``harm_days`` after the window


def harm_split(rows: pl.DataFrame, validation_sends: int, test_sends: int,
               horizon: timedelta) -> dict[str, pl.DataFrame]:
    """The harm's rows split by send day: test the latest ``test_sends`` days, validation the
    latest ``validation_sends`` days whose labels end by the first test day, train the days whose
    labels end by the first validation day (``split_by_time`` purges the days between)."""
    days = sorted(rows[CUTOFF].unique().to_list())
    if len(days) < test_sends + 1:
        raise ValueError(f"{len(days)} send days cannot make {test_sends} test days and more")
    first_test = days[-test_sends]
    before = [day for day in days if day + horizon <= first_test]
    if len(before) < validation_sends + 1:
        raise ValueError(f"{len(before)} send days end {horizon.days} days before the first test send: "
                         f"too few for {validation_sends} validation days and training days")
    return split_by_time(rows, at=(before[-validation_sends], first_test), horizon=horizon)


@dataclass
class CampaignChoice:
    """Per user, the campaign a plan would send (an index into the campaigns offered) and what the
    models predict of it."""
    campaign: np.ndarray         # the highest uplift in purchases not predicted to put off (else the highest)
    uplift: np.ndarray
    spend_uplift: np.ndarray
    put_off: np.ndarray          # every campaign offered is predicted to put the user off
    harm: np.ndarray             # the chosen campaign's added chance that the user is lost (nan without a model)


@dataclass
class CampaignModel:
    """The uplift in purchases, in spend and, for a send that can put users off, in visits and in
    users lost (the harm)."""

    purchases: UpliftModel
    spend: UpliftModel | None
    visits: UpliftModel | None
    validation_qini: dict[str, float]
    losses: UpliftModel | None = None

    def uplift(self, rows) -> np.ndarray:
        return self.purchases.uplift(rows)

    def spend_uplift(self, rows) -> np.ndarray:
        """Per row, the predicted change in spend within the window (nan without a spend model)."""
        return _uplift_or_nan(self.spend, rows)

    def purchase(self, rows) -> np.ndarray:
        return self.purchases.purchase(rows)

    def harm(self, rows) -> np.ndarray:
        """Per row, the predicted rise in the chance the user is silent all through the days after
        the window (nan without a harm model)."""
        return _uplift_or_nan(self.losses, rows)

    def put_off(self, rows) -> np.ndarray:
        """Per row, whether the send is predicted to make the user visit less (never, without a visit model)."""
        if self.visits is None:
            return np.zeros(_count(rows), dtype=bool)
        return self.visits.uplift(rows) < 0

    @property
    def campaigns(self) -> tuple[str, ...]:
        """The campaigns the models tell apart (none where a send comes in one kind)."""
        return self.purchases.layout.categorical.get(CAMPAIGN, ())

    def inputs(self, rows: pl.DataFrame | dict[str, list]) -> np.ndarray:
        """The models' input for users' features (a frame or an online read), the campaign left to
        ``choose``."""
        if self.campaigns and CAMPAIGN not in rows:
            count = _count(rows)
            rows = (rows.with_columns(pl.lit(self.campaigns[0]).alias(CAMPAIGN)) if isinstance(rows, pl.DataFrame)
                    else {**rows, CAMPAIGN: [self.campaigns[0]] * count})
        return self.purchases.layout.array(rows)

    def choose(self, x: np.ndarray, campaigns: tuple[str, ...] | None = None) -> CampaignChoice:
        """Per row of ``x`` (``inputs``), the campaign among ``campaigns`` (default: every one the
        models know) with the highest predicted uplift in purchases, leaving out those predicted to
        put the user off; a send without campaigns has its one model."""
        offered = self.campaigns if campaigns is None else campaigns
        if not offered:
            return CampaignChoice(np.zeros(len(x), dtype=np.int64), self.uplift(x), self.spend_uplift(x),
                                  self.put_off(x), self.harm(x))
        column, codes = self.purchases.layout.columns.index(CAMPAIGN), self.purchases.layout.categorical[CAMPAIGN]
        stacked = np.tile(x, (len(offered), 1))                  # every campaign's rows at once: one call a model
        stacked[:, column] = np.repeat([codes.index(campaign) for campaign in offered], len(x))
        uplift, spend, put_off, harm = (scores.reshape(len(offered), len(x)).T for scores in
                                        (self.uplift(stacked), self.spend_uplift(stacked), self.put_off(stacked),
                                         self.harm(stacked)))
        everyone_off = put_off.all(axis=1)
        best = np.where(everyone_off, uplift.argmax(axis=1), np.where(put_off, -np.inf, uplift).argmax(axis=1))
        rows = np.arange(len(x))
        return CampaignChoice(best, uplift[rows, best], spend[rows, best], everyone_off, harm[rows, best])

    def boosters(self) -> dict:
        return (self.purchases.boosters() | (self.spend.boosters("spend_") if self.spend else {})
                | (self.visits.boosters("visit_") if self.visits else {})
                | (self.losses.boosters("harm_") if self.losses else {}))

    @classmethod
    def from_boosters(cls, boosters: dict, layout: FeatureLayout) -> CampaignModel:
        spend, visits, losses = (UpliftModel.from_boosters(boosters, layout, prefix) if f"{prefix}treated" in boosters
                                 else None for prefix in ("spend_", "visit_", "harm_"))
        return cls(UpliftModel.from_boosters(boosters, layout), spend, visits, {}, losses)


def _uplift_or_nan(model: UpliftModel | None, rows) -> np.ndarray:
    return np.full(_count(rows), np.nan) if model is None else model.uplift(rows)


def _count(rows) -> int:
    if isinstance(rows, dict):
        return len(next(iter(rows.values())))
    return rows.height if isinstance(rows, pl.DataFrame) else len(rows)


class CampaignUpliftTask:
    """A campaign's uplift task; its module names the campaign (``sends``) and what it asks."""

    family = "marketing"
    entity = "user"
    feature_service = names.CHURN_V1
    config_type = UpliftConfig
    sends: Sends

    evaluation = Tabled("uplift", TEST_SENDS, model=MODEL, reference=PROPENSITY, metric="share_of_oracle_true_qini",
                        label="share of the oracle's expected Qini")

    def build_dataset(self, config: UpliftConfig, settings: Settings) -> UpliftData:
        with connect(settings.warehouse_path) as con:
            rows = con.sql(self.sends.rows_sql(config.harm_days)).pl()
        if rows.is_empty():
            raise ValueError(f"the warehouse has no {self.sends.table} whose outcome window it covers")
        dataset = point_in_time_dataset(rows, self.feature_service, settings)
        splits = split_by_time(dataset, config.validation_sends, config.test_sends,
                               horizon=timedelta(days=self.sends.window_days))
        harm_splits = None
        if self.sends.can_put_off:
            try:
                harm_splits = harm_split(dataset.filter(pl.col(LOST).is_not_null()), config.validation_sends,
                                         config.test_sends, timedelta(days=self.sends.window_days + config.harm_days))
            except ValueError as error:
                log.warning("no harm model: the data is too short for %d days after the window (%s)",
                            config.harm_days, error)
        return UpliftData(splits, FeatureLayout.from_training(splits["train"]), harm_splits)

    def train(self, config: UpliftConfig, data: UpliftData) -> CampaignModel:
        train, valid = data.splits["train"], data.splits["validation"]
        purchases, qini = choose_learner(config, data.layout, train, valid)
        spend = choose_learner(config, data.layout, train, valid, SPEND, "regression")[0]
        visits = choose_learner(config, data.layout, train, valid, VISITED)[0] if self.sends.can_put_off else None
        losses = None
        if data.harm_splits is not None:
            losses = choose_learner(config, data.layout, data.harm_splits["train"], data.harm_splits["validation"],
                                    LOST)[0]
        return CampaignModel(purchases, spend, visits, qini, losses)

    def choose(self, config: UpliftConfig, model: CampaignModel, data: UpliftData, settings: Settings) -> UpliftConfig:
        return replace(config, learner=model.purchases.learner)

    def evaluate(self, config: UpliftConfig, model: CampaignModel, data: UpliftData, settings: Settings) -> Evaluation:
        test = data.splits["test"]
        oracle = true_uplift(settings, self.sends, test)
        evaluation = evaluate_uplift(model.purchases, test, oracle, config.seed)
        evaluation.tables["validation Qini of each learner (the choice)"] = {
            learner: {"qini": value} for learner, value in model.validation_qini.items()}
        evaluation.tables[SPEND_TABLE] = spend_figures(model, test, config.seed)
        buyers = test.filter(pl.col(OUTCOME) == 1)
        evaluation.tables[BUYER_SPEND] = {BUYERS: {"buyers": float(buyers.height),
                                                   "mean_spend": float(buyers[SPEND].mean() or 0.0)}}
        if oracle is None:                          # imported data: no truth, no what-if shop
            return evaluation
        if model.visits is not None:
            evaluation.tables[PUT_OFF_TABLE] = put_off_figures(model, test, put_off_truth(settings, self.sends, test))
        if model.losses is not None:
            harm_test = data.harm_splits["test"]
            harm = model.harm(harm_test)
            truly_put_off = put_off_truth(settings, self.sends, harm_test)
            evaluation.tables[HARM_TABLE] = harm_figures(model, harm_test, harm, truly_put_off, config.seed)
            evaluation.tables[HARM_AVERAGE] = harm_average(harm_test, harm)
        if config.whatif_seeds:
            found = campaign_whatif(settings, self.sends.send, model, self.feature_service, config.whatif_seeds,
                                    seed=config.seed)
            evaluation.tables[WHATIF_PLANS], evaluation.tables[WHATIF_MARGINS] = found["plans"], found["margins"]
            if "choice" in found:
                evaluation.tables[WHATIF_CHOICE] = found["choice"]
        return evaluation

    def save(self, config: UpliftConfig, model: CampaignModel, data: UpliftData, metrics: dict,
             settings: Settings) -> str:
        return save_task_model(self, model.boosters(), "treated", config, data.splits, data.layout, metrics, settings)


def true_uplift(settings: Settings, sends: Sends, test: pl.DataFrame) -> np.ndarray | None:
    """The simulator's true uplift of each test send, in the test rows' order (None without truth)."""
    with connect(settings.warehouse_path) as con:
        if not has_truth(con):
            return None
        con.register("test_sends", test.select("send_id").with_row_index("position").to_arrow())
        found = con.sql(f"""SELECT t.uplift FROM test_sends s JOIN {sends.truth} t ON t.{sends.id_column} = s.send_id
                            ORDER BY s.position""").fetchnumpy()
    return np.asarray(found["uplift"], dtype=float)


def put_off_truth(settings: Settings, sends: Sends, test: pl.DataFrame) -> np.ndarray:
    """Per test send, whether it truly puts its user off (its campaign's effect on them is negative)."""
    with connect(settings.warehouse_path) as con:
        con.register("test_sends", test.select("send_id").with_row_index("position").to_arrow())
        found = con.sql(f"""SELECT t.push_effect < 0 AS put_off FROM test_sends s
                            JOIN {sends.truth} t ON t.{sends.id_column} = s.send_id ORDER BY s.position""").fetchnumpy()
    return np.asarray(found["put_off"], dtype=bool)


def put_off_figures(model: CampaignModel, test: pl.DataFrame, truly_put_off: np.ndarray) -> dict[str, dict[str, float]]:
    """How well the visit model's sign finds the users a send puts off: AUC of its score, and the
    precision and recall of the flag; beside the share truly put off."""
    visit_uplift = model.visits.uplift(test)
    flagged = visit_uplift < 0
    return {"visit uplift below 0": {
        "auc": roc_auc(truly_put_off, -visit_uplift), "precision": float(truly_put_off[flagged].mean()) if flagged.any() else float("nan"),
        "recall": float(flagged[truly_put_off].mean()) if truly_put_off.any() else float("nan"),
        "flagged_share": float(flagged.mean()), "true_share": float(truly_put_off.mean())}}


def harm_figures(model: CampaignModel, test: pl.DataFrame, harm: np.ndarray, truly_put_off: np.ndarray,
                 seed: int) -> dict[str, dict[str, float]]:
    """How well each score ranks the sends by the users they drive away: Qini, AUUC and uplift@k
    of the observed silence after the window, and the AUC for the sends that truly put their user
    off; by the harm model (``harm``, its predictions of ``test``), by the visit model (its fall in
    visits), at random and by the truth."""
    scores = {HARM_MODEL: harm, VISIT_MODEL: -model.visits.uplift(test),
              RANDOM: np.random.default_rng(seed).random(test.height), TRULY_PUT_OFF: truly_put_off.astype(float)}
    table = uplift_figures(test[LOST].to_numpy().astype(float), test[TREATED].to_numpy().astype(float), scores)
    for name, score in scores.items():
        table[name]["auc_truly_put_off"] = roc_auc(truly_put_off, score)
    return table


def harm_average(test: pl.DataFrame, harm: np.ndarray) -> dict[str, dict[str, float]]:
    """The mean predicted ``harm`` of the test sends beside what the randomised arms show: the
    share silent after the window among the sent less among the held out, with its 95% interval."""
    lost, treated = test[LOST].to_numpy().astype(float), test[TREATED].to_numpy().astype(bool)
    sent, held = lost[treated], lost[~treated]
    error = np.sqrt(sent.var(ddof=1) / len(sent) + held.var(ddof=1) / len(held))
    difference = float(sent.mean() - held.mean())
    return {"added chance of being lost": {
        "predicted_mean": float(harm.mean()), "observed": difference,
        "observed_low": difference - 1.96 * error, "observed_high": difference + 1.96 * error,
        "lost_share_held_out": float(held.mean()), "sends": float(test.height)}}


def spend_figures(model: CampaignModel, test: pl.DataFrame, seed: int) -> dict[str, dict[str, float]]:
    """Qini, AUUC and uplift@k of the test sends' spend (currency, not buyers) by the spend
    model's uplift, by the purchase model's, by propensity and at random."""
    scores = {"spend uplift model": model.spend_uplift(test), "purchase uplift model": model.uplift(test),
              PROPENSITY: model.purchase(test), "random": np.random.default_rng(seed).random(test.height)}
    return uplift_figures(test[SPEND].to_numpy(), test[TREATED].to_numpy().astype(float), scores)
