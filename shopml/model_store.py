"""Models as artifacts with provenance in BentoML's model store (``<home>/bentoml``): LightGBM's
native text files, one per head, or any folder of framework-native files (the FAISS item index),
with labels (task, feature service) and metadata (metrics, resolved config, training window,
row counts). Never pickles."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np

from shopml.matrix import FeatureLayout
from shopml.serving import SavedModel
from shopml.settings import Settings

PRIMARY_FILE = "model.txt"
AD_CATALOGUE_FILE = "ads.parquet"      # the ctr model's ads: ad_id, item_id, category (as trained)


def head_file(head: str, primary: str) -> str:
    return PRIMARY_FILE if head == primary else f"model.{head}.txt"


def use_model_store(settings: Settings) -> None:
    """Point BentoML at this home's store; it reads BENTOML_HOME once, when first imported."""
    wanted = str(settings.model_store)
    if "bentoml" in sys.modules and os.environ.get("BENTOML_HOME") != wanted:
        raise RuntimeError(f"bentoml was imported with another model store ({os.environ.get('BENTOML_HOME')})")
    os.environ["BENTOML_HOME"] = wanted
    settings.model_store.mkdir(parents=True, exist_ok=True)


def save_artifact(name: str, labels: dict[str, str], metadata: dict, settings: Settings,
                  write: Callable[[Path], None]) -> str:
    """A new version of model ``name``: ``write(folder)`` puts its files in the model's folder."""
    use_model_store(settings)
    import bentoml

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)      # pathspec's, raised inside bentoml
        with bentoml.models.create(name, labels=labels, metadata=metadata) as model:
            write(Path(model.path))
    return str(model.tag)


class ModelMissingError(LookupError):
    """The model store holds no such model."""


def artifact_folder(tag: str, settings: Settings) -> tuple[Path, dict]:
    """The folder of a saved model (``name:version`` or ``name:latest``) and its metadata."""
    use_model_store(settings)
    import bentoml

    try:
        model = bentoml.models.get(tag)
    except bentoml.exceptions.NotFound as error:
        raise ModelMissingError(f"no model {tag} in {settings.model_store}") from error
    return Path(model.path), dict(model.info.metadata)


def save_boosters(name: str, boosters: dict[str, lgb.Booster], primary: str, labels: dict[str, str],
                  metadata: dict, settings: Settings, extra: Callable[[Path], None] | None = None) -> str:
    """Save one booster per head (``extra(folder)`` adds any other files the model needs)."""
    def write(folder: Path) -> None:
        for head, booster in boosters.items():
            booster.save_model(str(folder / head_file(head, primary)))
        if extra is not None:
            extra(folder)

    return save_artifact(name, labels, {**metadata, "primary_head": primary, "heads": sorted(boosters)},
                         settings, write)


def boosters_in(folder: Path, metadata: dict) -> dict[str, lgb.Booster]:
    """The boosters of a saved model's folder, by head."""
    primary = metadata["primary_head"]
    return {head: lgb.Booster(model_file=str(folder / head_file(head, primary))) for head in metadata["heads"]}


def load_boosters(tag: str, settings: Settings) -> tuple[dict[str, lgb.Booster], dict]:
    folder, metadata = artifact_folder(tag, settings)
    return boosters_in(folder, metadata), metadata


@dataclass
class BoostedModel:
    """A saved LightGBM task model as the services use it: its boosters by head and the feature
    layout it was trained with."""

    saved: SavedModel
    boosters: dict[str, lgb.Booster]
    layout: FeatureLayout

    @classmethod
    def load(cls, saved: SavedModel) -> BoostedModel:
        return cls(saved, boosters_in(saved.folder, saved.metadata), FeatureLayout.from_metadata(saved.metadata))

    @property
    def config(self) -> dict:
        return self.saved.metadata["config"]

    def predict(self, head: str, features: dict[str, list]) -> np.ndarray:
        return self.boosters[head].predict(self.layout.array(features), num_threads=1)

    def prior(self, head: str) -> float:
        """The share of positives in the latest labelled weeks (the test split)."""
        return float(self.saved.metadata["metrics"][head]["model"]["positive_rate"])
