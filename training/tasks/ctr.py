"""Ad click-through: for a shown ad slot (user, ad, position, time), the probability of a click.

Rows are the shown slots of the latest weeks (ghost-ad holdout slots were never shown and carry
no label); features come from ``ctr_v1`` as of the slot's time, including the request-time
position and hour; train on the earliest weeks, stop early on the next, test on the latest.
The baseline is the ad's smoothed click-through and the position; the oracle, on simulated data,
is the probability each click was drawn with. The saved model carries the ad catalogue (each ad's
item and category, which the features are keyed on) for the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import lightgbm as lgb
import polars as pl

from feature_repo.definitions import names
from shopml.matrix import FeatureLayout
from shopml.model_store import AD_CATALOGUE_FILE
from shopml.settings import Settings
from shopml.warehouse.database import connect

from ..baselines import ad_popularity
from ..boosting import BoostingConfig, fit_binary, save_task_model
from ..datasets import point_in_time_dataset
from ..evaluation import BASELINE, MODEL, ORACLE, Evaluation, HeadEvaluation, shap_importance
from ..labels import labelled_impressions, split_by_time
from ..oracle import oracle_click_probabilities

HEAD, LABEL = "click", "clicked"
CLICK_WINDOW = timedelta(0)       # a click is recorded with its slot: the label reads nothing later
AD_CATALOGUE_SQL = f"""SELECT ads.ad_id AS {names.AD_ID}, ads.item_id AS {names.ITEM_ID}, i.category AS {names.CATEGORY}
                       FROM ads JOIN items i USING (item_id) ORDER BY ads.ad_id"""


@dataclass(frozen=True)
class CtrConfig(BoostingConfig):
    weeks: int = 12                   # weeks of shown slots, the latest whole ones
    validation_weeks: int = 1         # for early stopping
    test_weeks: int = 2               # held out, the latest


@dataclass
class CtrData:
    splits: dict[str, pl.DataFrame]
    layout: FeatureLayout


class CtrTask:
    name = "ctr"
    feature_service = names.CTR_V1
    config_type = CtrConfig

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
