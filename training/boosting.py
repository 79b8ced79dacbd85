"""Gradient-boosted models, as every tabular task trains them: the LightGBM settings a task config
inherits, fitting binary models with early stopping on the validation split, and saving a task's
boosters with the metadata they carry (config, training window, row counts, feature layout)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import lightgbm as lgb
import polars as pl

from shopml.matrix import FeatureLayout
from shopml.model_store import save_boosters
from shopml.settings import Settings

from .labels import CUTOFF
from .schedule import training_threads
from .task import task_labels


@dataclass(frozen=True)
class BoostingConfig:
    learning_rate: float = 0.05
    num_leaves: int = 31
    max_depth: int = -1                   # no limit; TreeSHAP (churn reasons) costs grow with the square of it
    min_data_in_leaf: int = 100
    feature_fraction: float = 0.8
    max_rounds: int = 1000
    early_stopping_rounds: int = 50       # stop when the validation log loss has not improved for this long
    seed: int = 7


def lgb_params(config: BoostingConfig, **objective) -> dict:
    """LightGBM's parameters for ``config``, with the objective (and its metric) given."""
    return {**objective, "learning_rate": config.learning_rate, "num_leaves": config.num_leaves,
            "max_depth": config.max_depth, "min_data_in_leaf": config.min_data_in_leaf,
            "feature_fraction": config.feature_fraction,
            "seed": config.seed, "deterministic": True, "num_threads": training_threads(), "verbosity": -1}


def fit_binary(config: BoostingConfig, layout: FeatureLayout, train: pl.DataFrame, valid: pl.DataFrame,
               label: str) -> lgb.Booster:
    params = lgb_params(config, objective="binary")
    train_set = lgb.Dataset(layout.matrix(train), train[label].cast(pl.Int8).to_numpy())
    valid_set = lgb.Dataset(layout.matrix(valid), valid[label].cast(pl.Int8).to_numpy(), reference=train_set)
    return lgb.train(params, train_set, num_boost_round=config.max_rounds, valid_sets=[valid_set],
                     callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)])


def save_task_model(task, model: dict[str, lgb.Booster], primary: str, config, splits: dict[str, pl.DataFrame],
                    layout: FeatureLayout, metrics: dict, settings: Settings,
                    extra: Callable[[Path], None] | None = None, metadata: dict | None = None) -> str:
    """Save a task's boosters under its name, labelled with the task and its feature service;
    ``metadata``: what the task's service needs beside the boosters (JSON)."""
    return save_boosters(task.name, model, primary, task_labels(task),
                         {**model_metadata(config, splits, layout, metrics), **(metadata or {})}, settings, extra)


def model_metadata(config, splits: dict[str, pl.DataFrame], layout: FeatureLayout, metrics: dict) -> dict:
    """What a saved model says about itself: metrics, resolved config, the cut-offs of each
    split, row counts and the feature layout needed to score new rows."""
    return {"metrics": metrics, "config": asdict(config),
            "cutoffs": {split: sorted(str(t) for t in frame[CUTOFF].unique().to_list())
                        for split, frame in splits.items()},
            "rows": {split: frame.height for split, frame in splits.items()},
            "features": layout.columns,
            "categories": {column: list(values) for column, values in layout.categorical.items()}}
