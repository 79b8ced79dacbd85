"""Ad audiences: for an ad, the users who would buy its item *because* they saw it, not the users
most likely to click it.

Rows are the ad slots of the latest weeks, shown and ghost (the randomised holdout, chosen and
never shown), with ``ctr_v1`` as of the slot; labels: ``converted`` (the session bought the ad's
item after the slot) and ``clicked``. Split by week: train, validation (early stopping), test.
LightGBM models on the shown slots: P(conversion) and P(click), and on the clicked ones
P(conversion | click). A slot converts without being shown at its campaign's ghost rate (the
training weeks' ghost slots of the ad's category, shrunk to all ghosts'), so a user's expected
incremental conversions from a slot are P(conversion | shown) less that rate: a T-learner whose
held-out arm is a rate, since ghosts convert too rarely (a few per thousand) to learn more from.
P(conversion | shown) is estimated directly (``conversion``) or as P(click) x P(conversion |
click) (``click x conversion``), whose first factor learns from many times the positives;
which, is chosen on the validation week: the conversions per 1,000 shown slots among the top
tenth by each estimate.

Judged on the test weeks' slots, shown against ghost (randomised): Qini, AUUC and uplift@k of
targeting by expected incremental conversions, by P(click) (a click-rate audience) and at random
(``training.uplift``'s figures); and, with ten times the slots behind it, the conversions of the
shown slots among each score's top shares (ghosts convert so rarely that this is nearly the
incremental rate). On a simulated shop the truth holds what showing each slot adds to the chance
that its session buys the ad's item (``truth.ad_impressions``), so each score also gets its
expected Qini, its share of the oracle's (the ranking by that truth; the headline, against the
click-rate audience), and the expected incremental conversions among its top shares: the
comparison without the outcomes' noise.

The audience itself: at training, every user with an event in the ``active_days`` before the
data ends is scored for every ad (features as of the end, the slot at position 1 in the
evening), and the best ``audience_size`` per ad are saved with the model.
Served as ``POST /ad_audience``; an ad the model does not know gets no audience (``known_ad:
false``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import lightgbm as lgb
import numpy as np
import polars as pl
from pydantic import BaseModel, Field

from feature_repo.definitions import names
from shopml.matrix import FeatureLayout
from shopml.serving import Endpoint, Id, OnlineReader, Request, SavedModel
from shopml.settings import Settings
from shopml.warehouse.database import connect

from ..boosting import BoostingConfig, fit_binary, save_task_model
from ..datasets import point_in_time_dataset
from ..evaluation import Evaluation
from ..kinds import Tabled
from ..labels import CUTOFF, labelled_impressions, split_by_time
from ..oracle import oracle_incremental_conversions
from ..uplift import MODEL, ORACLE, RANDOM, expected_gain_chart, qini_chart, true_qini_difference, uplift_figures

log = logging.getLogger(__name__)

CONVERSION, CLICK = "converted", "clicked"
CLICK_AUDIENCE = "click rate"
ESTIMATORS = ("conversion", "click x conversion")
CHOSEN_SHARE = 0.1                        # the validation choice reads the conversions of each estimate's top tenth
CHOICES = "choices on the validation week (shown slots: conversions per 1,000 among the top tenth)"
TEST_SLOTS = "test slots, shown against ghost (targeting by each score)"
SHOWN_TOP = "test slots shown: conversions per 1,000 among each score's top share"
EXPECTED_TOP = "test slots: expected incremental conversions per 1,000 among each score's top share (the truth)"
EXPECTED_LEAD = "test slots: expected Qini, the audience less the click-rate audience (bootstrap over the slots)"
TOP_SHARES = (0.01, 0.05, 0.1, 0.3)
AUDIENCE_FILE = "audiences.parquet"
SESSION_WINDOW = timedelta(days=1)        # a conversion is read within the slot's session
AUDIENCE_POSITION, AUDIENCE_HOUR = 1, 20
MAX_AUDIENCE = 1000


@dataclass(frozen=True)
class AdAudienceConfig(BoostingConfig):
    weeks: int = 12
    validation_weeks: int = 1
    test_weeks: int = 2
    organic_smoothing: float = 200.0      # ghost slots of prior weight on a campaign's ghost rate
    active_days: int = 30                 # the audience's candidates: users with an event in these days
    audience_size: int = MAX_AUDIENCE     # users saved per ad
    estimator: str = "auto"               # how P(conversion | shown) is had: one of ESTIMATORS, or "auto" (validation)


@dataclass
class AdAudienceData:
    splits: dict[str, pl.DataFrame]
    layout: FeatureLayout
    choices: dict[str, float] = field(default_factory=dict)     # estimator -> validation conversions


@dataclass
class AudienceModel:
    conversion: lgb.Booster
    click: lgb.Booster
    given_click: lgb.Booster              # P(conversion | click)
    organic: dict[str, float]             # per campaign (category), P(conversion) of a ghost slot
    organic_default: float

    def incremental(self, layout: FeatureLayout, frame: pl.DataFrame, estimator: str) -> np.ndarray:
        """Expected incremental conversions of a slot, P(conversion | shown) by ``estimator`` (one
        of ESTIMATORS) less the campaign's ghost rate."""
        baseline = np.array([self.organic.get(c, self.organic_default) for c in frame[names.CATEGORY].to_list()])
        x = layout.matrix(frame)
        if estimator == "conversion":
            return self.conversion.predict(x) - baseline
        return self.click.predict(x) * self.given_click.predict(x) - baseline


def organic_rates(train: pl.DataFrame, smoothing: float) -> tuple[dict[str, float], float]:
    ghosts = train.filter(~pl.col("shown"))
    overall = float(ghosts[CONVERSION].mean() or 0.0)
    per = ghosts.group_by(names.CATEGORY).agg(pl.col(CONVERSION).sum().alias("hits"), pl.len().alias("slots"))
    return ({c: (h + smoothing * overall) / (n + smoothing) for c, h, n in per.iter_rows()}, overall)


def top_share_key(share: float) -> str:
    return f"top_{round(100 * share)}_percent"


def top_share_conversions(converted: np.ndarray, scores: dict[str, np.ndarray],
                          shares: tuple[float, ...] = TOP_SHARES) -> dict[str, dict[str, float]]:
    """Per score, the conversions per 1,000 slots among its top shares (``converted``: each slot's
    conversions, or their expectation). Ghosts convert at a few in ten thousand, so on shown slots
    this is nearly the incremental rate, with ten times the slots of the shown-against-ghost
    comparison behind it."""
    out = {}
    for name, score in scores.items():
        order = np.argsort(-score, kind="stable")
        out[name] = {top_share_key(share): 1000 * float(converted[order[:max(1, round(share * len(order)))]].mean())
                     for share in shares} | {"all": 1000 * float(converted.mean())}
    return out


class AdAudienceRequest(Request):
    ad_id: Id
    size: Annotated[int, Field(ge=1, le=MAX_AUDIENCE)] = 100


class AudienceUser(BaseModel):
    user_id: int
    expected_incremental_conversions: float      # per slot shown to the user
    click_probability: float


class AdAudienceResponse(BaseModel):
    model: str
    ad_id: int
    known_ad: bool                                # false: no audience, the model has not seen the ad
    as_of: str                                    # the features' time, the data's end at training
    users: list[AudienceUser]                     # best first


class AdAudienceAnswers:
    def __init__(self, models: dict[str, SavedModel], online: OnlineReader):
        saved = models["ad_audience"]
        table = pl.read_parquet(saved.folder / AUDIENCE_FILE).sort(names.AD_ID, "rank")
        self.tag, self.as_of = saved.tag, str(table["as_of"][0]) if table.height else ""
        self.audiences = {ad: group for (ad,), group in table.group_by(names.AD_ID, maintain_order=True)}

    def answer(self, request: AdAudienceRequest) -> AdAudienceResponse:
        found = self.audiences.get(request.ad_id)
        users = [] if found is None else [
            AudienceUser(user_id=u, expected_incremental_conversions=round(e, 6), click_probability=round(c, 6))
            for u, e, c in found.head(request.size).select(names.USER_ID, "expected_incremental_conversions",
                                                           "click_probability").iter_rows()]
        return AdAudienceResponse(model=self.tag, ad_id=request.ad_id, known_ad=found is not None, as_of=self.as_of,
                                  users=users)


class AdAudienceTask:
    name = "ad_audience"
    question = "Who should see an ad: who buys because of it, not who clicks most?"
    family = "marketing"
    entity = "ad"
    feature_service = names.CTR_V1
    config_type = AdAudienceConfig
    evaluation = Tabled("uplift", TEST_SLOTS, model=MODEL, reference=CLICK_AUDIENCE, metric="share_of_oracle_true_qini",
                        label="share of the oracle's expected Qini")
    endpoint = Endpoint(
        path="/ad_audience", request=AdAudienceRequest, response=AdAudienceResponse, models=("ad_audience",),
        start=AdAudienceAnswers, example=lambda shop: {"ad_id": shop.shown_ads[0], "size": 5},
        doc="The users with the most expected incremental conversions from an ad, best first.")

    def build_dataset(self, config: AdAudienceConfig, settings: Settings) -> AdAudienceData:
        if config.estimator not in ("auto", *ESTIMATORS):
            raise ValueError(f"estimator: {config.estimator!r} is not one of auto, {', '.join(ESTIMATORS)}")
        rows = labelled_impressions(settings.warehouse_path, config.weeks, with_ghosts=True)
        dataset = point_in_time_dataset(rows, self.feature_service, settings)
        splits = split_by_time(dataset, config.validation_weeks, config.test_weeks, horizon=SESSION_WINDOW)
        return AdAudienceData(splits, FeatureLayout.from_training(splits["train"]))

    def train(self, config: AdAudienceConfig, data: AdAudienceData) -> AudienceModel:
        train, valid = (data.splits[s].filter(pl.col("shown")) for s in ("train", "validation"))
        clicked_train, clicked_valid = (frame.filter(pl.col(CLICK)) for frame in (train, valid))
        organic, overall = organic_rates(data.splits["train"], config.organic_smoothing)
        return AudienceModel(fit_binary(config, data.layout, train, valid, CONVERSION),
                             fit_binary(config, data.layout, train, valid, CLICK),
                             fit_binary(config, data.layout, clicked_train, clicked_valid, CONVERSION),
                             organic, overall)

    def choose(self, config: AdAudienceConfig, model: AudienceModel, data: AdAudienceData,
               settings: Settings) -> AdAudienceConfig:
        """The estimator whose top tenth of the validation week's shown slots converts most (the
        first of equals)."""
        shown = data.splits["validation"].filter(pl.col("shown"))
        scores = {estimator: model.incremental(data.layout, shown, estimator)
                  for estimator in (ESTIMATORS if config.estimator == "auto" else (config.estimator,))}
        tops = top_share_conversions(shown[CONVERSION].to_numpy(), scores, (CHOSEN_SHARE,))
        column = top_share_key(CHOSEN_SHARE)
        data.choices.update({estimator: top[column] for estimator, top in tops.items()})
        best = max(data.choices, key=data.choices.get)
        log.info("ad_audience: validation conversions per 1,000 among the top tenth %s; chosen %r",
                 {k: round(v, 2) for k, v in data.choices.items()}, best)
        return replace(config, estimator=best)

    def evaluate(self, config: AdAudienceConfig, model: AudienceModel, data: AdAudienceData,
                 settings: Settings) -> Evaluation:
        test = data.splits["test"]
        scores = {MODEL: model.incremental(data.layout, test, config.estimator),
                  CLICK_AUDIENCE: model.click.predict(data.layout.matrix(test)),
                  RANDOM: np.random.default_rng(config.seed).random(test.height)}
        truth = oracle_incremental_conversions(settings, test["impression_id"].to_numpy())
        if truth is not None:
            scores[ORACLE] = truth
        converted, shown = test[CONVERSION].to_numpy().astype(float), test["shown"].to_numpy()
        table = uplift_figures(converted, shown.astype(float), scores)
        choices = {estimator: {f"conversions_per_1000_{top_share_key(CHOSEN_SHARE)}": value,
                               "chosen": float(estimator == config.estimator)} for estimator, value in data.choices.items()}
        shown_top = top_share_conversions(converted[shown], {name: score[shown] for name, score in scores.items()})
        tables = {TEST_SLOTS: table, SHOWN_TOP: shown_top, CHOICES: choices}
        figures = [qini_chart(converted, shown.astype(float), scores, positives="conversions", rows="slots",
                              targets="slots")]
        if truth is not None:
            tables[EXPECTED_TOP] = top_share_conversions(truth, scores)
            tables[EXPECTED_LEAD] = {MODEL: true_qini_difference(truth, scores[MODEL], scores[CLICK_AUDIENCE],
                                                                 float(shown.mean()), seed=config.seed)}
            figures.append(expected_gain_chart(truth, scores, positives="conversions", rows="slots"))
        return Evaluation(heads={}, tables=tables, figures=figures)

    def save(self, config: AdAudienceConfig, model: AudienceModel, data: AdAudienceData, metrics: dict,
             settings: Settings) -> str:
        audiences = score_audiences(settings, config, model, data.layout)
        boosters = {"conversion": model.conversion, "click": model.click, "conversion_given_click": model.given_click}
        metrics = metrics | {"organic_conversion_rate": {"ghost slots": {c: r for c, r in model.organic.items()}}}

        def write_audiences(folder: Path) -> None:
            audiences.write_parquet(folder / AUDIENCE_FILE)

        return save_task_model(self, boosters, "conversion", config, data.splits, data.layout, metrics, settings,
                               write_audiences)


def score_audiences(settings: Settings, config: AdAudienceConfig, model: AudienceModel,
                    layout: FeatureLayout) -> pl.DataFrame:
    """Every active user scored for every ad as of the data's end: per ad, the best
    ``audience_size`` users by expected incremental conversions, with their click probability
    and the time the features are as of.

    The user side of ``ctr_v1`` (activity, engagement, and the user's interest in each category)
    is read once per (user, category), the ad side (its stats, its item, the request context) once
    per ad, and the two are put together per category, every ad of it beside every user in one
    scoring: no point-in-time join of every pair."""
    with connect(settings.warehouse_path) as con:
        end = con.sql("SELECT CAST(max(ts) AS DATE) + 1 FROM events").fetchall()[0][0]
        users = con.sql(f"""SELECT DISTINCT user_id FROM events
                            WHERE ts >= ?::TIMESTAMPTZ - INTERVAL ({config.active_days}) DAY ORDER BY user_id""",
                        params=[end]).pl()["user_id"]
        ads = con.sql(f"""SELECT ads.ad_id AS {names.AD_ID}, ads.item_id AS {names.ITEM_ID}, i.category AS {names.CATEGORY}
                          FROM ads JOIN items i USING (item_id) ORDER BY ads.ad_id""").pl()
    as_of = pl.Series([end]).cast(pl.Datetime("us", "UTC"))[0]
    keys = {names.EVENT_TIMESTAMP: as_of, "ad_position": AUDIENCE_POSITION, "hour_of_day": AUDIENCE_HOUR, CUTOFF: as_of}
    one_ad_per_category = ads.unique(names.CATEGORY, keep="first", maintain_order=True)
    user_rows = pl.DataFrame({names.USER_ID: users}).join(one_ad_per_category, how="cross").with_columns(
        **{k: pl.lit(v) for k, v in keys.items()})
    ad_rows = ads.with_columns(pl.lit(users[0]).alias(names.USER_ID), **{k: pl.lit(v) for k, v in keys.items()})
    user_side = point_in_time_dataset(user_rows, names.CTR_V1, settings)
    ad_side = point_in_time_dataset(ad_rows, names.CTR_V1, settings)
    user_columns = [c for c in layout.columns if c.split("__")[0] in (names.USER_ACTIVITY, names.USER_ENGAGEMENT,
                                                                        names.USER_CATEGORY)]
    ad_columns = [c for c in layout.columns if c not in user_columns]
    by_category = {c: frame.select(names.USER_ID, *user_columns)
                   for (c,), frame in user_side.group_by(names.CATEGORY)}
    parts = []
    for (category,), ads_here in ad_side.select(names.AD_ID, names.CATEGORY, *ad_columns).group_by(
            names.CATEGORY, maintain_order=True):
        people = by_category[category]
        candidates = ads_here.join(people, how="cross")         # every (ad, user) of the category, ad by ad
        incremental = model.incremental(layout, candidates, config.estimator).reshape(ads_here.height, people.height)
        best = np.argsort(-incremental, axis=1, kind="stable")[:, :config.audience_size]    # per ad, its audience
        chosen = (best + people.height * np.arange(ads_here.height)[:, None]).ravel()
        parts.append(pl.DataFrame({
            names.AD_ID: candidates[names.AD_ID].to_numpy()[chosen],
            names.USER_ID: candidates[names.USER_ID].to_numpy()[chosen],
            "rank": np.tile(np.arange(1, best.shape[1] + 1), ads_here.height),
            "expected_incremental_conversions": incremental.ravel()[chosen],
            "click_probability": model.click.predict(layout.matrix(candidates[chosen]))}))
    return pl.concat(parts).sort(names.AD_ID, "rank").with_columns(pl.lit(as_of).alias("as_of"))
