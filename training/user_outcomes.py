"""Tasks that predict what an active user does next (propensity, churn): the shared machinery.

Rows are (user, weekly cut-off) pairs for users active in the 30 days before the cut-off, features
come from the task's feature service at the cut-off, labels from events after it. Train on the
earliest cut-offs, stop early on the next, test on the latest. Each head is one LightGBM binary
model, scored against a recency-frequency logistic regression and, on simulated data, against
the oracle: the same metrics for the simulator's own probabilities on the same test rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import lightgbm as lgb
import polars as pl

from shopml.settings import Settings

from .baselines import recency_frequency
from .datasets import point_in_time_dataset
from .labels import CUTOFF, LabelSpec, labelled_users, split_by_time
from .matrix import FeatureLayout
from .metrics import binary_report
from .model_store import save_boosters
from .oracle import oracle_probabilities


@dataclass(frozen=True)
class Head:
    label: str                        # label column of training.labels
    oracle: str                       # its outcome in training.oracle


@dataclass(frozen=True)
class UserOutcomeConfig:
    horizon_days: int = 7             # the label looks this many days past the cut-off
    cutoffs: int = 8                  # weekly cut-offs (the latest usable ones)
    validation_cutoffs: int = 1       # for early stopping
    test_cutoffs: int = 2             # held out, the latest
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_data_in_leaf: int = 100
    feature_fraction: float = 0.8
    max_rounds: int = 1000
    early_stopping_rounds: int = 50
    oracle_futures: int = 200         # Monte Carlo futures per user for the oracle (simulated data)
    seed: int = 7


@dataclass
class UserOutcomeData:
    splits: dict[str, pl.DataFrame]
    layout: FeatureLayout


def _fit(config: UserOutcomeConfig, layout: FeatureLayout, train: pl.DataFrame, valid: pl.DataFrame,
         label: str) -> lgb.Booster:
    params = {"objective": "binary", "learning_rate": config.learning_rate, "num_leaves": config.num_leaves,
              "min_data_in_leaf": config.min_data_in_leaf, "feature_fraction": config.feature_fraction,
              "seed": config.seed, "deterministic": True, "num_threads": 2, "verbosity": -1}
    train_set = lgb.Dataset(layout.matrix(train), train[label].cast(pl.Int8).to_numpy())
    valid_set = lgb.Dataset(layout.matrix(valid), valid[label].cast(pl.Int8).to_numpy(), reference=train_set)
    return lgb.train(params, train_set, num_boost_round=config.max_rounds, valid_sets=[valid_set],
                     callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)])


class UserOutcomeTask:
    """One task per subclass: its ``name``, ``feature_service``, ``config_type`` and ``heads``
    (head name -> Head; the first is the primary one)."""

    name: str
    feature_service: str
    config_type: type
    heads: dict[str, Head]

    @property
    def primary(self) -> str:
        return next(iter(self.heads))

    def build_dataset(self, config: UserOutcomeConfig, settings: Settings) -> UserOutcomeData:
        rows = labelled_users(settings.warehouse_path, LabelSpec(config.horizon_days, config.cutoffs))
        dataset = point_in_time_dataset(rows, self.feature_service, settings)
        splits = split_by_time(dataset, config.validation_cutoffs, config.test_cutoffs)
        return UserOutcomeData(splits=splits, layout=FeatureLayout.from_training(splits["train"]))

    def train(self, config: UserOutcomeConfig, data: UserOutcomeData) -> dict[str, lgb.Booster]:
        train, valid = data.splits["train"], data.splits["validation"]
        return {head: _fit(config, data.layout, train, valid, spec.label) for head, spec in self.heads.items()
                if train[spec.label].n_unique() == 2 and valid[spec.label].n_unique() == 2}

    def evaluate(self, config: UserOutcomeConfig, model: dict[str, lgb.Booster], data: UserOutcomeData,
                 settings: Settings) -> dict:
        test = data.splits["test"]
        oracle = oracle_probabilities(settings, test, config.horizon_days, config.oracle_futures)
        results = {}
        for head, booster in model.items():
            spec = self.heads[head]
            label = test[spec.label].cast(pl.Int8).to_numpy()
            baseline = recency_frequency(data.splits["train"], spec.label)
            scores = {"model": booster.predict(data.layout.matrix(test)), "baseline": baseline(test)}
            if oracle is not None:
                scores["oracle"] = oracle[spec.oracle]
            head_result = {name: binary_report(label, p) for name, p in scores.items()}
            if oracle is not None:
                head_result["model_over_oracle_auc"] = head_result["model"]["auc"] / head_result["oracle"]["auc"]
            head_result["best_iteration"] = booster.best_iteration
            results[head] = head_result
        return results

    def save(self, config: UserOutcomeConfig, model: dict[str, lgb.Booster], data: UserOutcomeData,
             metrics: dict, settings: Settings) -> str:
        window = {split: sorted(str(t) for t in frame[CUTOFF].unique().to_list())
                  for split, frame in data.splits.items()}
        metadata = {"metrics": metrics, "config": asdict(config), "cutoffs": window,
                    "rows": {split: frame.height for split, frame in data.splits.items()},
                    "features": data.layout.columns,
                    "categories": {c: list(v) for c, v in data.layout.categorical.items()}}
        return save_boosters(self.name, model, self.primary,
                             {"task": self.name, "feature_service": self.feature_service}, metadata, settings)
