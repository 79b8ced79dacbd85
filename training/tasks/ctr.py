"""Ad click-through: for a shown ad slot (user, ad, position, time), the probability of a click.

Rows are the shown slots of the latest weeks (ghost-ad holdout slots were never shown and carry
no label); features come from ``ctr_v1`` as of the slot's time, including the request-time
position and hour; train on the earliest weeks, stop early on the next, test on the latest.
The baseline is the ad's smoothed click-through and the position; the oracle, on simulated data,
is the probability each click was drawn with. The saved model carries the ad catalogue (each ad's
item and category, which the features are keyed on) for the service.

Served as ``POST /ctr``: P(click) of each candidate ad in one slot, best first. An ad the model has
never seen gets the overall click rate (``known_ad: false``); an unknown user is scored on the
ad's features alone (``known_user: false``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated

import lightgbm as lgb
import polars as pl
from pydantic import BaseModel, Field

from feature_repo.definitions import names
from shopml.matrix import FeatureLayout
from shopml.model_store import AD_CATALOGUE_FILE, BoostedModel
from shopml.serving import Endpoint, Id, OnlineReader, Request, SavedModel, known_users
from shopml.settings import Settings
from shopml.warehouse.database import connect

from ..baselines import ad_popularity
from ..boosting import BoostingConfig, fit_binary, save_task_model
from ..datasets import point_in_time_dataset
from ..evaluation import BASELINE, MODEL, ORACLE, Evaluation, HeadEvaluation, shap_importance
from ..kinds import BINARY
from ..labels import labelled_impressions, split_by_time
from ..oracle import oracle_click_probabilities

HEAD, LABEL = "click", "clicked"
CLICK_WINDOW = timedelta(0)       # a click is recorded with its slot: the label reads nothing later
AD_CATALOGUE_SQL = f"""SELECT ads.ad_id AS {names.AD_ID}, ads.item_id AS {names.ITEM_ID}, i.category AS {names.CATEGORY}
                       FROM ads JOIN items i USING (item_id) ORDER BY ads.ad_id"""
MAX_ADS = 200             # candidate ads per request
MAX_POSITION = 50         # ad slot positions 1..MAX_POSITION


@dataclass(frozen=True)
class CtrConfig(BoostingConfig):
    weeks: int = 12                   # weeks of shown slots, the latest whole ones
    validation_weeks: int = 1         # for early stopping
    test_weeks: int = 2               # held out, the latest


@dataclass
class CtrData:
    splits: dict[str, pl.DataFrame]
    layout: FeatureLayout


class CtrRequest(Request):
    user_id: Id
    ad_ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_ADS)]
    position: Annotated[int, Field(ge=1, le=MAX_POSITION)] = 1
    hour_of_day: Annotated[int, Field(ge=0, le=23)] | None = None      # default: the hour now, in UTC


class AdScore(BaseModel):
    ad_id: int
    probability: float                   # P(click) in this slot
    known_ad: bool                       # false: the overall click rate answered


class CtrResponse(BaseModel):
    model: str
    user_id: int
    known_user: bool                     # false: scored on the ad's features alone
    position: int
    hour_of_day: int
    ads: list[AdScore]                   # best first


class CtrAnswers:
    def __init__(self, models: dict[str, SavedModel], online: OnlineReader):
        saved = models["ctr"]
        self.model, self.online = BoostedModel.load(saved), online
        ads = pl.read_parquet(saved.folder / AD_CATALOGUE_FILE)
        self.ads = {ad: (item, category) for ad, item, category in ads.iter_rows()}

    def answer(self, request: CtrRequest) -> CtrResponse:
        hour = datetime.now(timezone.utc).hour if request.hour_of_day is None else request.hour_of_day
        user_id, ad_ids = request.user_id, request.ad_ids
        known_ads = [ad for ad in ad_ids if ad in self.ads]
        probability = dict.fromkeys(ad_ids, self.model.prior(HEAD))
        if known_ads:
            rows = {names.USER_ID: [user_id] * len(known_ads), names.AD_ID: known_ads,
                    names.ITEM_ID: [self.ads[ad][0] for ad in known_ads],
                    names.CATEGORY: [self.ads[ad][1] for ad in known_ads],
                    "ad_position": [request.position] * len(known_ads), "hour_of_day": [hour] * len(known_ads)}
            features = self.online.read(names.CTR_V1, rows)
            probability.update(zip(known_ads, self.model.predict(HEAD, features).tolist()))
        else:
            features = self.online.read(names.PROPENSITY_V1, {names.USER_ID: [user_id]})
        known_user = bool(known_users(features)[0])
        ads = sorted((AdScore(ad_id=ad, probability=float(probability[ad]), known_ad=ad in self.ads) for ad in ad_ids),
                     key=lambda score: -score.probability)
        return CtrResponse(model=self.model.saved.tag, user_id=user_id, known_user=known_user,
                           position=request.position, hour_of_day=hour, ads=ads)


class CtrTask:
    name = "ctr"
    question = "Which ad will this user click in this slot?"
    family = "marketing"
    entity = "ad"
    feature_service = names.CTR_V1
    config_type = CtrConfig
    evaluation = BINARY
    endpoint = Endpoint(
        path="/ctr", request=CtrRequest, response=CtrResponse, models=("ctr",), start=CtrAnswers,
        example=lambda shop: {"user_id": shop.active_user, "ad_ids": shop.shown_ads, "position": 1},
        doc="P(click) of each candidate ad in this slot, best first.")

    def build_dataset(self, config: CtrConfig, settings: Settings) -> CtrData:
        rows = labelled_impressions(settings.warehouse_path, config.weeks)
        dataset = point_in_time_dataset(rows, self.feature_service, settings)
        splits = split_by_time(dataset, config.validation_weeks, config.test_weeks, horizon=CLICK_WINDOW)
        return CtrData(splits=splits, layout=FeatureLayout.from_training(splits["train"]))

    def train(self, config: CtrConfig, data: CtrData) -> dict[str, lgb.Booster]:
        return {HEAD: fit_binary(config, data.layout, data.splits["train"], data.splits["validation"], LABEL)}

    def evaluate(self, config: CtrConfig, model: dict[str, lgb.Booster], data: CtrData,
                 settings: Settings) -> Evaluation:
        test = data.splits["test"]
        matrix = data.layout.matrix(test)
        booster = model[HEAD]
        scores = {MODEL: booster.predict(matrix), BASELINE: ad_popularity(data.splits["train"], LABEL)(test)}
        oracle = oracle_click_probabilities(settings, test["impression_id"].to_numpy())
        if oracle is not None:
            scores[ORACLE] = oracle
        return Evaluation({HEAD: HeadEvaluation(labels=test[LABEL].cast(pl.Int8).to_numpy(), scores=scores,
                                                importance=shap_importance(booster, matrix),
                                                findings={"best_iteration": booster.best_iteration})})

    def save(self, config: CtrConfig, model: dict[str, lgb.Booster], data: CtrData, metrics: dict,
             settings: Settings) -> str:
        with connect(settings.warehouse_path) as con:
            ads = con.sql(AD_CATALOGUE_SQL).pl()

        def write_ads(folder: Path) -> None:      # the service looks up an ad's item and category here
            ads.write_parquet(folder / AD_CATALOGUE_FILE)

        return save_task_model(self, model, HEAD, config, data.splits, data.layout, metrics, settings, write_ads)
