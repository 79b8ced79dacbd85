"""User embedding: a dense vector per user (``dimension``, 16 to 64) from the user feature views
(``churn_v1``: activity, spend, engagement, profile, experience) and the user's recent behaviour
per category (``user_taste`` as shares), learned by a multi-task autoencoder in PyTorch: the
vector must both rebuild its inputs and predict what the user does in the 30 days after the
cut-off (purchase, cart, no event at all, a like, favourite, share or review) and where their
views go then (shares per category), while a user's vectors at two training cut-offs stay close
(a contrastive term). The targets are observable, so any shop can train it; the training rows
are the purged training cut-offs, early stopping reads the validation cut-off.

Judged on the test cut-off against the simulator's hidden traits (``truth.users``): a linear
probe (ridge) from the vector to each trait, fitted on half of the test users and scored as R²
on the other half, averaged over ``PROBE_SPLITS`` random halves, beside the same probe on the
raw input vector and on its PCA with the same dimension; the same probe on the validation
cut-off's users is where variants are chosen. Saved as a ``state_dict`` with the input scaling
and the layout (never a pickle).

The vectors are then written back as the Feast view ``user_embedding`` (``write_user_vectors``):
weekly snapshots (``snapshot_every_days``; the view's TTL of 8 days bridges them), each midnight
counted back from the newest feature snapshot, of every user with an event in the 90 days before
it, from their point-in-time inputs;
``shopml features build`` writes them again from the stored model on new data
(``training.view_refresh``) and ``shopml features materialize`` loads the newest into the online
store. Every snapshot is made by the model trained now: another task that trains on older
snapshots uses an encoder that has seen labels up to this model's validation cut-off, so it should
use them only at or after that cut-off.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl

from feature_repo.definitions import names
from shopml.model_store import save_artifact
from shopml.settings import Settings
from shopml.warehouse.database import connect

from ..embeddings import vector_matrix, write_atomically
from ..evaluation import Evaluation
from ..kinds import Tabled
from ..labels import LabelSpec, labelled_users, split_by_time
from ..metrics.clustering import probe_r2
from ..oracle import hidden_user_traits
from ..task import task_labels
from .preferences import EVENT_TYPES, shop_categories, taste_counts

log = logging.getLogger(__name__)

OUTCOMES = ("will_purchase", "will_cart", "will_churn", "will_like", "will_favorite", "will_share", "will_review")
TRAITS = ("activity", "price_sensitivity", "coupon_response", "push_effect", "natural_hazard", "taste")
LOGGED = ("activity", "price_sensitivity", "natural_hazard")      # lognormal traits, probed as logs
PROBES = "linear probe R2 on held-out test users"
VALIDATION_PROBES = "linear probe R2 on held-out validation users (for choices between variants)"
DECODERS = ("mlp", "linear")          # linear: the vector must hold the inputs linearly, as PCA's does
PROBE_SPLITS = 5                      # random halves of the test users the probe is averaged over
MODEL, PCA, RAW = "embedding", "pca", "raw features"
WEIGHTS_FILE, SCALING_FILE = "encoder.pt", "scaling.json"
ACTIVE_USERS_SQL = """
WITH times AS (SELECT unnest(?::TIMESTAMPTZ[]) AS t)
SELECT DISTINCT e.user_id, t.t AS event_timestamp FROM times t
JOIN events e ON e.ts >= t.t - INTERVAL 90 DAY AND e.ts < t.t
ORDER BY 2, 1"""
# per labelled row (its user and cut-off) and category: the views in the horizon after the cut-off
NEXT_VIEWS_SQL = """
SELECT w.row, i.category, count(*) AS views
FROM wanted w JOIN events e ON e.user_id = w.{user} AND e.event_type = 'view'
 AND e.ts >= w.{ts} AND e.ts < w.{ts} + INTERVAL {horizon} DAY
JOIN items i USING (item_id) WHERE i.category IS NOT NULL GROUP BY ALL"""


@dataclass(frozen=True)
class UserEmbeddingConfig:
    dimension: int = 32               # 16 to 64
    hidden: int = 128
    horizon_days: int = 30            # the outcomes the vector also predicts
    train_cutoffs: int = 4
    epochs: int = 30                  # at most; training stops when validation loss stalls 3 epochs
    batch_size: int = 512
    learning_rate: float = 2e-3
    outcome_weight: float = 1.0       # the outcomes' share of the loss beside the reconstruction
    next_views_weight: float = 1.0    # the next views' share (cross-entropy of their category shares)
    seed: int = 0
    snapshot_every_days: int = 7      # the user_embedding view's snapshots: one every this many days
    decoder: str = "mlp"              # one of DECODERS
    contrastive_weight: float = 0.3   # InfoNCE between a user's rows at two training cut-offs (0: none)
    temperature: float = 0.1          # of the contrastive loss's cosine similarities

    def __post_init__(self):
        if not 16 <= self.dimension <= 64:
            raise ValueError(f"dimension must be 16 to 64, not {self.dimension}")
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder must be {' or '.join(DECODERS)}, not {self.decoder!r}")
        if self.contrastive_weight < 0 or self.temperature <= 0:
            raise ValueError(f"contrastive_weight must be at least 0 and temperature above 0, not "
                             f"{self.contrastive_weight} and {self.temperature}")
        if self.snapshot_every_days < 1:
            raise ValueError(f"snapshot_every_days must be at least 1, not {self.snapshot_every_days}")


@dataclass
class UserEmbeddingData:
    columns: list[str]               # the input vector's columns (numbers, category shares, missing flags)
    splits: dict[str, pl.DataFrame]  # user_id, event_timestamp, outcomes
    inputs: dict[str, np.ndarray]    # split -> (rows, columns), raw (NaN where missing)
    next_view_shares: dict[str, np.ndarray]  # split -> (rows, categories): where the horizon's views went

    def targets(self, split: str):
        from ..user_encoder import Targets

        outcomes = self.splits[split].select(pl.col(OUTCOMES).cast(pl.Float64)).to_numpy()
        return Targets(outcomes, self.next_view_shares[split], self.splits[split][names.USER_ID].to_numpy())


def input_columns(features: pl.DataFrame, categories: list[str]) -> list[str]:
    """The input vector's columns for these ``churn_v1`` features: the numbers, one ``name=value``
    column per text value seen, and one ``share=category`` per category."""
    schema = features.schema
    numeric = [c for c in features.columns if "__" in c and schema[c] != pl.String]
    one_hot = [f"{c}={v}" for c in features.columns if "__" in c and schema[c] == pl.String
               for v in sorted(features[c].drop_nulls().unique().to_list())]
    return [*numeric, *one_hot, *(f"share={c}" for c in categories)]


def assemble(features: Mapping[str, Sequence], shares: np.ndarray, categories: list[str],
             columns: list[str]) -> np.ndarray:
    """(rows, columns) input vectors from feature columns as lists (a dataset's, or an online
    read's) and the view shares per category. A number missing stays NaN (the encoder's scaling
    fills it), a text value never seen in training sets no one-hot column."""
    rows = len(shares)
    share_of = {f"share={c}": j for j, c in enumerate(categories)}
    out = np.zeros((rows, len(columns)))
    for i, column in enumerate(columns):
        if column in share_of:
            out[:, i] = shares[:, share_of[column]]
        elif "=" in column:
            name, value = column.split("=", 1)
            out[:, i] = [v == value for v in features.get(name, [None] * rows)]
        else:
            out[:, i] = np.array(features.get(column, [None] * rows), dtype=float)
    return out


def view_shares(counts: np.ndarray) -> np.ndarray:
    """(users, categories) each user's share of decayed views per category (0 where none)."""
    views = counts[:, :, EVENT_TYPES.index("views")]
    return views / np.maximum(views.sum(axis=1, keepdims=True), 1e-9)


def user_inputs(rows: pl.DataFrame, settings: Settings, columns: list[str] | None = None
                ) -> tuple[pl.DataFrame, np.ndarray, list[str]]:
    """The embedding's input at each row (``user_id``, ``event_timestamp``), point in time: the
    dataset, the values and their columns (``input_columns`` unless a saved model's are given)."""
    from ..datasets import point_in_time_dataset

    dataset = point_in_time_dataset(rows, names.CHURN_V1, settings)
    categories = shop_categories(settings)
    columns = columns or input_columns(dataset, categories)
    shares = view_shares(taste_counts(dataset, categories, settings)) if categories else np.zeros((dataset.height, 0))
    return dataset, assemble(dataset.to_dict(as_series=False), shares, categories, columns), columns


class UserEmbeddingTask:
    name = "user_embedding"
    question = "What is each user like, as a vector other models can use?"
    family = "users"
    entity = "user"
    feature_service = names.CHURN_V1
    config_type = UserEmbeddingConfig
    evaluation = Tabled("embedding", PROBES, model=MODEL, reference=PCA, metric="mean",
                        label="probe R² of hidden traits")

    def build_dataset(self, config: UserEmbeddingConfig, settings: Settings) -> UserEmbeddingData:
        spec = LabelSpec(config.horizon_days, config.train_cutoffs, validation_cutoffs=1, test_cutoffs=1)
        dataset, values, columns = user_inputs(labelled_users(settings.warehouse_path, spec), settings)
        dataset = dataset.with_row_index("row")
        shares = next_view_shares(dataset, shop_categories(settings), config.horizon_days, settings)
        splits = split_by_time(dataset, 1, 1, spec.horizon)
        rows = {s: f["row"].to_numpy() for s, f in splits.items()}
        return UserEmbeddingData(columns, {s: f.select(names.USER_ID, names.EVENT_TIMESTAMP, *OUTCOMES)
                                           for s, f in splits.items()},
                                 {s: values[r] for s, r in rows.items()}, {s: shares[r] for s, r in rows.items()})

    def train(self, config: UserEmbeddingConfig, data: UserEmbeddingData):
        from ..user_encoder import fit_encoder

        return fit_encoder(config, data.inputs["train"], data.targets("train"),
                           data.inputs["validation"], data.targets("validation"))

    def evaluate(self, config: UserEmbeddingConfig, model, data: UserEmbeddingData, settings: Settings) -> Evaluation:
        from sklearn.decomposition import PCA as Pca

        pca = Pca(config.dimension, random_state=config.seed).fit(model.scaled(data.inputs["train"]))
        tables = {"outcomes predicted from the vector (test AUC)": model.outcome_aucs(
            data.inputs["test"], data.targets("test").outcomes, OUTCOMES)}
        for split, title in (("validation", VALIDATION_PROBES), ("test", PROBES)):
            raw = model.scaled(data.inputs[split])
            vectors = {MODEL: model.embed(data.inputs[split]), RAW: raw, PCA: pca.transform(raw)}
            probes = probe_table(vectors, settings, data.splits[split][names.USER_ID].to_numpy(), config.seed)
            if probes is not None:
                tables[title] = probes
        return Evaluation(heads={}, tables=tables)

    def save(self, config: UserEmbeddingConfig, model, data: UserEmbeddingData, metrics: dict,
             settings: Settings) -> str:
        import torch

        def write(folder):
            torch.save(model.network.state_dict(), folder / WEIGHTS_FILE)
            (folder / SCALING_FILE).write_text(json.dumps(model.scaling()))

        metadata = {"config": config.__dict__, "metrics": metrics, "columns": data.columns,
                    "rows": {s: f.height for s, f in data.splits.items()}}
        tag = save_artifact(self.name, task_labels(self), metadata,
                            settings, write)
        written = write_user_vectors(model, data.columns, settings, config.snapshot_every_days)
        log.info("user_embedding: %d user vectors (%d snapshots) written to %s", written.height,
                 written[names.EVENT_TIMESTAMP].n_unique(), settings.features_dir)
        return tag


def write_user_vectors(encoder, columns: list[str], settings: Settings, every_days: int) -> pl.DataFrame:
    """The ``user_embedding`` view's table: a snapshot every ``every_days`` back from the newest
    feature snapshot (while 30 days of history lie before them), each of the users with an event in
    the 90 days before it; written atomically, returned."""
    from feature_repo.store import newest_snapshot

    newest = newest_snapshot(settings)
    with connect(settings.warehouse_path) as con:
        first = con.execute("SELECT min(ts) FROM events").fetchall()[0][0]
        times, time = [], newest
        while time >= first + timedelta(days=30):
            times.append(time)
            time -= timedelta(days=every_days)
        rows = con.sql(ACTIVE_USERS_SQL, params=[times]).pl()
    _, values, _ = user_inputs(rows, settings, columns)
    table = rows.with_columns(pl.Series(names.EMBEDDING, encoder.embed(values), dtype=pl.Array(pl.Float32, len(
        encoder.network.encoder[-1].bias))).arr.to_list())
    write_atomically(table, settings.features_dir / f"{names.USER_EMBEDDING}.parquet")
    return table


def probe_table(vectors: dict[str, np.ndarray], settings: Settings, users: np.ndarray,
                seed: int) -> dict[str, dict[str, float]] | None:
    """Per kind of vector (rows: ``users``), each hidden trait's linear probe R² on held-out halves
    of the users, averaged over ``PROBE_SPLITS`` random halves, and their mean; None on imported
    data."""
    traits = hidden_traits(settings, users)
    if traits is None:
        return None
    halves = np.random.default_rng(seed).random((PROBE_SPLITS, len(users))) < 0.5
    table = {}
    for name, x in vectors.items():
        scores = {trait: float(np.mean([probe_r2(x[half], y[half], x[~half], y[~half]) for half in halves]))
                  for trait, y in traits.items()}
        table[name] = {**scores, "mean": float(np.mean(list(scores.values()))), "dimension": x.shape[1]}
    return table


def next_view_shares(rows: pl.DataFrame, categories: list[str], horizon_days: int, settings: Settings) -> np.ndarray:
    """(rows, categories) each row's share of views per category in the ``horizon_days`` after its
    ``event_timestamp`` (rows of ``row``, ``user_id``, ``event_timestamp``); 0 where none, and no
    columns for a shop without categories."""
    if not categories:
        return np.zeros((rows.height, 0))
    with connect(settings.warehouse_path) as con:
        con.register("wanted", rows.select("row", names.USER_ID, names.EVENT_TIMESTAMP).to_arrow())
        views = con.sql(NEXT_VIEWS_SQL.format(user=names.USER_ID, ts=names.EVENT_TIMESTAMP,
                                              horizon=horizon_days)).pl()
    out = np.zeros((rows.height, len(categories)))
    views = views.filter(pl.col(names.CATEGORY).is_in(categories))
    column = views[names.CATEGORY].replace_strict(categories, list(range(len(categories)))).to_numpy()
    out[views["row"].to_numpy(), column] = views["views"].to_numpy()
    return out / np.maximum(out.sum(axis=1, keepdims=True), 1)


def hidden_traits(settings: Settings, users: np.ndarray) -> dict[str, np.ndarray] | None:
    """Trait -> (users, targets): one column each, the taste's one per category; None on
    imported data."""
    found = hidden_user_traits(settings, users, ", ".join(f"t.{t}" for t in TRAITS))
    if found is None:
        return None
    out = {t: found[t].to_numpy()[:, None].astype(float) for t in TRAITS if t != "taste"}
    out |= {t: np.log(np.maximum(out[t], 1e-9)) for t in LOGGED}
    out["taste"] = vector_matrix(found["taste"])
    return out


def encoder_from(folder: Path, metadata: dict):
    """A saved user embedding's fitted encoder (its folder and metadata)."""
    import torch

    from ..user_encoder import FittedEncoder, MultiTaskAutoencoder

    config, scaling = metadata["config"], json.loads((folder / SCALING_FILE).read_text())
    categories = sum(column.startswith("share=") for column in metadata["columns"])
    network = MultiTaskAutoencoder(len(metadata["columns"]), config["hidden"], config["dimension"], len(OUTCOMES),
                                   categories, config.get("decoder", "mlp"), config.get("contrastive_weight", 0) > 0)
    network.load_state_dict(torch.load(folder / WEIGHTS_FILE, weights_only=True))
    network.eval()
    return FittedEncoder(network, np.asarray(scaling["mean"]), np.asarray(scaling["scale"]))


def load_encoder(tag: str, settings: Settings):
    """A saved user embedding (``name:version`` or ``user_embedding:latest``) as a fitted encoder,
    with the input columns it was trained on."""
    from shopml.model_store import artifact_folder

    folder, metadata = artifact_folder(tag, settings)
    return encoder_from(folder, metadata), metadata["columns"]
