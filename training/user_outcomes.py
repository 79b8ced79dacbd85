"""Tasks that predict what an active user does next (propensity, churn): the shared machinery.

Rows are (user, weekly cut-off) pairs for users active in the 30 days before the cut-off, features
come from the task's feature service at the cut-off, labels from events after it. Train on the
earliest cut-offs, stop early on the next, test on the latest, with the splits purged so that
no training or validation label reads the period after it (training.labels). Each head is one LightGBM binary
model, scored against a recency-frequency logistic regression, against BG/NBD (the classic
buy-till-you-die model of purchase histories) where a head names its BG/NBD counterpart, and, on
simulated data, against the oracle: the same metrics for the simulator's own probabilities on
the same test rows.

Served, each head answers from the user's online features; a user the online store does not hold
(no activity or engagement row) gets the population prior, the share of positives in the
model's latest labelled weeks, flagged ``known_user: false``.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import polars as pl

from feature_repo.definitions import names
from shopml.matrix import FeatureLayout
from shopml.model_store import BoostedModel
from shopml.serving import OnlineReader, SavedModel, known_users
from shopml.settings import Settings

from .baselines import recency_frequency
from .bg_nbd import PENALIZER, bg_nbd_scores
from .boosting import BoostingConfig, fit_binary, save_task_model
from .datasets import point_in_time_dataset
from .evaluation import BASELINE, MODEL, ORACLE, Evaluation, HeadEvaluation, shap_importance
from .labels import LabelSpec, labelled_users, split_by_time
from .oracle import departed_by_cutoff, oracle_lead, oracle_probabilities


@dataclass(frozen=True)
class Head:
    label: str                        # label column of training.labels
    oracle: str | None                # its outcome in the task's ``oracle`` (None: it has none)
    bg_nbd: tuple[str, ...] = ()      # BG/NBD outcomes (training.bg_nbd) to score it with
    if_departed: float = 0.0          # the label's probability for a user who has left for good


@dataclass(frozen=True)
class UserOutcomeConfig(BoostingConfig):
    horizon_days: int = 7             # the label looks this many days past the cut-off
    train_cutoffs: int = 5            # weekly cut-offs to train on, the latest the purge allows
    validation_cutoffs: int = 1       # for early stopping and every other choice
    test_cutoffs: int = 2             # held out, the latest
    oracle_futures: int = 120         # Monte Carlo futures per user for the oracle (simulated data; 0: none);
                                      # standard error at most 0.046 a user; 200 cost the demo another minute


@dataclass
class UserOutcomeData:
    splits: dict[str, pl.DataFrame]
    layout: FeatureLayout


class UserOutcomeTask:
    """One task per subclass: its ``name``, ``feature_service``, ``config_type`` and ``heads``
    (head name -> Head; the first is the primary one)."""

    name: str
    feature_service: str
    config_type: type
    heads: dict[str, Head]
    entity = "user"

    @property
    def primary(self) -> str:
        return next(iter(self.heads))

    def build_dataset(self, config: UserOutcomeConfig, settings: Settings) -> UserOutcomeData:
        spec = LabelSpec(config.horizon_days, config.train_cutoffs, config.validation_cutoffs, config.test_cutoffs)
        rows = labelled_users(settings.warehouse_path, spec)
        dataset = point_in_time_dataset(rows, self.feature_service, settings)
        splits = split_by_time(dataset, config.validation_cutoffs, config.test_cutoffs, spec.horizon)
        return UserOutcomeData(splits=splits, layout=FeatureLayout.from_training(splits["train"]))

    def oracle(self, config: UserOutcomeConfig, settings: Settings, rows: pl.DataFrame) -> dict[str, np.ndarray] | None:
        """Per outcome, the simulator's probability for each row (None on imported data): by
        Monte Carlo over futures of the simulator (``training.oracle.oracle_probabilities``)."""
        outcomes = tuple(spec.oracle for spec in self.heads.values() if spec.oracle is not None)
        if not outcomes:
            return None
        return oracle_probabilities(settings, rows, config.horizon_days, config.oracle_futures, outcomes)

    def train(self, config: UserOutcomeConfig, data: UserOutcomeData) -> dict[str, lgb.Booster]:
        train, valid = data.splits["train"], data.splits["validation"]
        return {head: fit_binary(config, data.layout, train, valid, spec.label) for head, spec in self.heads.items()
                if train[spec.label].n_unique() == 2 and valid[spec.label].n_unique() == 2}

    def evaluate(self, config: UserOutcomeConfig, model: dict[str, lgb.Booster], data: UserOutcomeData,
                 settings: Settings) -> Evaluation:
        test = data.splits["test"]
        matrix = data.layout.matrix(test)
        oracle = self.oracle(config, settings, test)
        departed = departed_by_cutoff(settings, test) if oracle is not None else None
        bg_nbd = (bg_nbd_scores(settings, test, config.horizon_days)
                  if any(spec.bg_nbd for spec in self.heads.values()) else {})
        heads = {}
        for head, booster in model.items():
            spec = self.heads[head]
            baseline = recency_frequency(data.splits["train"], spec.label)
            scores = {MODEL: booster.predict(matrix), BASELINE: baseline(test),
                      **{f"bg_nbd_{outcome}": bg_nbd[outcome] for outcome in spec.bg_nbd}}
            labels = test[spec.label].cast(pl.Int8).to_numpy()
            findings = {"best_iteration": booster.best_iteration,
                        **({"bg_nbd_penalizer": float(bg_nbd[PENALIZER].max())} if spec.bg_nbd else {})}
            if oracle is not None and spec.oracle is not None:
                scores[ORACLE] = oracle[spec.oracle]
                findings |= oracle_lead(labels, scores[MODEL], scores[ORACLE], departed, spec.if_departed)
            heads[head] = HeadEvaluation(labels=labels, scores=scores, importance=shap_importance(booster, matrix),
                                         findings=findings)
        return Evaluation(heads)

    def save(self, config: UserOutcomeConfig, model: dict[str, lgb.Booster], data: UserOutcomeData,
             metrics: dict, settings: Settings) -> str:
        return save_task_model(self, model, self.primary, config, data.splits, data.layout, metrics, settings)


class ServedUserOutcomes:
    """A user-outcome model as served: per head, each user's probability from the online features
    of ``feature_service``, the prior for an unknown user."""

    def __init__(self, saved: SavedModel, online: OnlineReader, feature_service: str):
        self.model, self.online, self.feature_service = BoostedModel.load(saved), online, feature_service

    @property
    def horizon_days(self) -> int:
        return int(self.model.config["horizon_days"])

    def features(self, user_ids: list[int]) -> tuple[dict[str, list], np.ndarray]:
        """The users' online features and, per user, whether the store knows them."""
        features = self.online.read(self.feature_service, {names.USER_ID: user_ids})
        return features, known_users(features)

    def probabilities(self, head: str, features: dict[str, list], known: np.ndarray) -> np.ndarray:
        return np.where(known, self.model.predict(head, features), self.model.prior(head))
