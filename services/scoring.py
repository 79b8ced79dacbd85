"""Scoring endpoints: purchase propensity and churn (with reasons) for a batch of users, and ad
click-through for a user's candidate ads, from the trained LightGBM models over the user's (and
ad's) latest features in the Feast online store.

Fallbacks, flagged in every answer: an unknown user (no features online) gets the population
prior, the share of positives in the model's latest labelled weeks, and no reasons; an ad the
ctr model does not know gets the overall click rate. Probabilities come from models trained with
log loss; their calibration (ECE, reliability table) is in each model's metadata and report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import bentoml
import lightgbm as lgb
import numpy as np
import polars as pl

from feature_repo.definitions import names
from shopml.matrix import FeatureLayout
from shopml.model_store import AD_CATALOGUE_FILE, boosters_in
from shopml.reasons import MIN_CAUSE_PUSH, REASONS, explain

from .online import OnlineFeatures
from .runtime import SavedModel, ServiceParts, health_app
from .schemas import (AdScore, ChurnRequest, ChurnResponse, ChurnScore, CtrRequest, CtrResponse, PropensityResponse,
                      PropensityScore, Reason, UsersRequest)

USER_VIEWS = (names.USER_ACTIVITY, names.USER_ENGAGEMENT)     # a user is known when these have a row online


@dataclass
class BoostedModel:
    saved: SavedModel
    boosters: dict[str, lgb.Booster]
    layout: FeatureLayout

    @classmethod
    def load(cls, saved: SavedModel) -> BoostedModel:
        return cls(saved, boosters_in(saved.folder, saved.metadata), FeatureLayout.from_metadata(saved.metadata))

    def predict(self, head: str, features: dict[str, list]) -> np.ndarray:
        return self.boosters[head].predict(self.layout.array(features), num_threads=1)

    def prior(self, head: str) -> float:
        """The share of positives in the latest labelled weeks (the test split)."""
        return float(self.saved.metadata["metrics"][head]["model"]["positive_rate"])


def known_users(features: dict[str, list]) -> np.ndarray:
    """Per row, whether the online store holds any of the user's activity or engagement."""
    columns = [values for column, values in features.items() if column.split("__")[0] in USER_VIEWS]
    return np.array([any(value is not None for value in row) for row in zip(*columns)], dtype=bool)


def _reasons(shares: np.ndarray) -> list[Reason]:
    order = np.argsort(-shares)
    return [Reason(reason=REASONS[i], share=round(float(shares[i]), 4)) for i in order if shares[i] > 0]


class Scorer:
    def __init__(self, online: OnlineFeatures, propensity: SavedModel, churn: SavedModel, ctr: SavedModel):
        self.online = online
        self.propensity_model, self.churn_model, self.ctr_model = (BoostedModel.load(m) for m in (propensity, churn, ctr))
        chosen = churn.metadata["config"].get("min_cause_push")           # chosen on validation when trained
        self.min_cause_push = MIN_CAUSE_PUSH if chosen is None else float(chosen)
        ads = pl.read_parquet(ctr.folder / AD_CATALOGUE_FILE)
        self.ads = {ad: (item, category) for ad, item, category in ads.iter_rows()}

    def models(self) -> dict[str, str]:
        return {m.saved.tag.split(":")[0]: m.saved.tag for m in (self.propensity_model, self.churn_model, self.ctr_model)}

    def _user_features(self, service: str, user_ids: list[int]) -> tuple[dict[str, list], np.ndarray]:
        features = self.online.read(service, {names.USER_ID: user_ids})
        return features, known_users(features)

    def propensity(self, user_ids: list[int]) -> PropensityResponse:
        model = self.propensity_model
        features, known = self._user_features(names.PROPENSITY_V1, user_ids)
        heads = {head: np.where(known, model.predict(head, features), model.prior(head)) for head in ("purchase", "cart")}
        scores = [PropensityScore(user_id=u, purchase=float(p), cart=float(c), known_user=bool(k))
                  for u, p, c, k in zip(user_ids, heads["purchase"], heads["cart"], known)]
        return PropensityResponse(model=model.saved.tag, horizon_days=model.saved.metadata["config"]["horizon_days"],
                                  scores=scores)

    def churn(self, user_ids: list[int], with_reasons: bool = True) -> ChurnResponse:
        """P(churn) per user and, unless ``with_reasons`` is false, the reasons: TreeSHAP over
        every tree, most of the time a churn request takes."""
        model = self.churn_model
        features, known = self._user_features(names.CHURN_V1, user_ids)
        probability = np.full(len(user_ids), model.prior("churn"))
        top = np.full(len(user_ids), None, dtype=object)
        shares = np.zeros((len(user_ids), len(REASONS)))
        if known.any() and with_reasons:
            reasons = explain(model.boosters["churn"], model.layout.array(features)[known], self.min_cause_push)
            probability[known] = reasons.probability
            top[known], shares[known] = reasons.top, reasons.shares
        elif known.any():
            probability[known] = model.predict("churn", features)[known]
        scores = [ChurnScore(user_id=u, probability=float(p), top_reason=t, reasons=_reasons(s), known_user=bool(k))
                  for u, p, t, s, k in zip(user_ids, probability, top, shares, known)]
        return ChurnResponse(model=model.saved.tag, horizon_days=model.saved.metadata["config"]["horizon_days"],
                             scores=scores)

    def ctr(self, user_id: int, ad_ids: list[int], position: int, hour_of_day: int | None) -> CtrResponse:
        model = self.ctr_model
        hour = datetime.now(timezone.utc).hour if hour_of_day is None else hour_of_day
        known_ads = [ad for ad in ad_ids if ad in self.ads]
        probability = dict.fromkeys(ad_ids, model.prior("click"))
        if known_ads:
            rows = {names.USER_ID: [user_id] * len(known_ads), names.AD_ID: known_ads,
                    names.ITEM_ID: [self.ads[ad][0] for ad in known_ads],
                    names.CATEGORY: [self.ads[ad][1] for ad in known_ads],
                    "ad_position": [position] * len(known_ads), "hour_of_day": [hour] * len(known_ads)}
            features = self.online.read(names.CTR_V1, rows)
            known_user = bool(known_users(features)[0])
            probability.update(zip(known_ads, model.predict("click", features).tolist()))
        else:
            known_user = bool(self._user_features(names.PROPENSITY_V1, [user_id])[1][0])
        ads = sorted((AdScore(ad_id=ad, probability=float(probability[ad]), known_ad=ad in self.ads) for ad in ad_ids),
                     key=lambda score: -score.probability)
        return CtrResponse(model=model.saved.tag, user_id=user_id, known_user=known_user, position=position,
                           hour_of_day=hour, ads=ads)


class ScoringEndpoints:
    """The scoring endpoints, mixed into the scoring service and the entry service."""

    propensity_model = bentoml.models.BentoModel("propensity:latest")
    churn_model = bentoml.models.BentoModel("churn:latest")
    ctr_model = bentoml.models.BentoModel("ctr:latest")

    def start_scorer(self, online: OnlineFeatures) -> None:
        self.scorer = Scorer(online, *(self.saved_model(f"{task}_model", f"shopml train {task}")
                                       for task in ("propensity", "churn", "ctr")))

    @bentoml.api(route="/propensity", input_spec=UsersRequest)
    def propensity(self, user_ids: list[int]) -> PropensityResponse:
        """P(purchase) and P(add to cart) within the horizon, per user."""
        return self.part("scorer").propensity(user_ids)

    @bentoml.api(route="/churn", input_spec=ChurnRequest)
    def churn(self, user_ids: list[int], explain: bool = True) -> ChurnResponse:
        """P(no event at all within the horizon), per user, with the reasons unless ``explain`` is false."""
        return self.part("scorer").churn(user_ids, explain)

    @bentoml.api(route="/ctr", input_spec=CtrRequest)
    def ctr(self, user_id: int, ad_ids: list[int], position: int = 1, hour_of_day: int | None = None) -> CtrResponse:
        """P(click) of each candidate ad in this slot, best first."""
        return self.part("scorer").ctr(user_id, ad_ids, position, hour_of_day)


@bentoml.asgi_app(health_app, path="/health")
@bentoml.service(name="shopml-scoring", traffic={"timeout": 30})
class Scoring(ScoringEndpoints, ServiceParts):
    parts = ("scorer",)
