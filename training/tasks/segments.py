"""Segments: which groups a shop's customers form. k-means on the user embedding (the latest
``user_embedding`` model), fitted on the users of the last training cut-off, with ``k`` chosen
among ``k_range`` by the silhouette of the validation cut-off's users; each segment gets a
profile (size, top categories, spend, recency, frequency, coupon and push response, churn in the
next 30 days) and a short name made from those facts.

Judged on the test cut-off beside an RFM segmentation (recency, frequency and spend each split at
the training users' median: 8 segments): the silhouette in the embedding space, agreement with
the hidden grouping by favourite category and activity tier (ARI and NMI, simulated data), and
stability: the same users segmented a week before the test cut-off keep their segment (ARI
between the two weeks' assignments).

The assignment is written back as the Feast view ``user_segment``: the nearest centre of every
snapshot (weekly by default) of the ``user_embedding`` view.

Served as ``POST /profile`` with ``user_ids``: per user the segment (id and name), the top
preferences (``preferences``), P(like, favourite, share, review) in the next week
(``engagement``) and, when asked (``include_embedding``), the embedding vector, all from the
online store. An unknown user has no segment, the shop's preferences and the engagement model's
priors, flagged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl

from pydantic import BaseModel

from feature_repo.definitions import names
from shopml.model_store import save_artifact
from shopml.serving import UNKNOWN_USER, Endpoint, OnlineReader, SavedModel, UsersRequest, known_users
from shopml.settings import Settings

from ..embeddings import vector_matrix, write_atomically
from ..evaluation import Evaluation
from ..kinds import Tabled
from ..labels import LabelSpec, cutoff_schedule, labelled_users
from ..metrics.clustering import adjusted_rand, normalized_mutual_info, silhouette
from ..oracle import hidden_user_traits
from ..report import scatter_chart
from ..segment_members import write_members
from ..task import task_labels
from ..user_outcomes import ServedUserOutcomes
from .preferences import PreferencesAnswers, PreferenceScore, shop_categories
from .user_embedding import assemble, encoder_from, load_encoder, user_inputs, view_shares

log = logging.getLogger(__name__)

QUALITY, PROFILES = "segment quality on the test users", "segment profiles (test users)"
MODEL, RFM = "embedding k-means", "RFM (median splits)"
RECENCY, FREQUENCY, SPEND = (f"{names.USER_ACTIVITY}__days_since_last_event", f"{names.USER_ACTIVITY}__purchases_90d",
                             f"{names.USER_MONETARY}__spend_90d")
COUPONS, PUSHES = f"{names.USER_MONETARY}__coupon_redemption_rate_90d", f"{names.USER_ENGAGEMENT}__push_open_rate_90d"
STABILITY_DAYS = 7
CENTRES_FILE = "centres.npy"
TOP_PREFERENCES = 3
PROJECTED_USERS = 1500      # points in the report's projection


@dataclass(frozen=True)
class SegmentsConfig:
    embedding: str = "user_embedding:latest"     # the user embedding model the segments are drawn in
    k_range: tuple[int, int] = (4, 12)           # k is chosen in this range (inclusive) on validation
    k: int | None = None                         # None: chosen by the validation users' silhouette
    horizon_days: int = 30                       # the churn the profiles report
    seed: int = 0


@dataclass
class Snapshot:
    """The users active at one cut-off: their features, outcomes and embedding vectors."""

    frame: pl.DataFrame
    vectors: np.ndarray
    shares: np.ndarray             # (users, categories) view shares


@dataclass
class SegmentsData:
    categories: list[str]
    snapshots: dict[str, Snapshot]  # train, validation, week_before, test
    embedding_tag: str


def _fit(vectors: np.ndarray, k: int, seed: int):
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=4, random_state=seed).fit(vectors)


def rfm(frame: pl.DataFrame, medians: dict[str, float]) -> np.ndarray:
    """0-7: recent (at most the median days since the last event), frequent and high-spending
    (above the median), one bit each."""
    bits = [frame[RECENCY].fill_null(np.inf).to_numpy() <= medians[RECENCY],
            frame[FREQUENCY].fill_null(0).to_numpy() > medians[FREQUENCY],
            frame[SPEND].fill_null(0).to_numpy() > medians[SPEND]]
    return bits[0] * 4 + bits[1] * 2 + bits[2] * 1


def segment_name(profile: dict, shop: dict, categories: int = 1) -> str:
    """A short name from the facts: how often and how much they buy, what draws them, where (the
    first ``categories`` of the segment's top categories)."""
    if profile["median_days_since_last_event"] > 2 * shop["median_days_since_last_event"]:
        rhythm = "lapsing"
    elif profile["purchases_90d"] > 1.5 * shop["purchases_90d"]:
        rhythm = "frequent"
    else:
        rhythm = "occasional"
    if profile["coupon_redemption_rate"] > 1.5 * shop["coupon_redemption_rate"]:
        value = "coupon-driven"
    elif profile["spend_90d"] > 1.5 * shop["spend_90d"]:
        value = "big-spending"
    elif profile["spend_90d"] < 0.5 * shop["spend_90d"]:
        value = "light-spending"
    else:
        value = "steady"
    top = profile["top_categories"][:categories]
    where = f" in {' and '.join(top)}" if top else ""    # no categories: real data
    return f"{rhythm} {value} shoppers{where}"


def unique_names(named: dict[int, dict], shop: dict) -> dict[int, str]:
    """Segment -> name, every name its own: segments that would share one are told apart by
    their second top category, then by a number (largest first)."""
    names_of = {s: segment_name(profile, shop) for s, profile in named.items()}
    for name in {n for n in names_of.values() if list(names_of.values()).count(n) > 1}:
        alike = sorted((s for s, n in names_of.items() if n == name), key=lambda s: -named[s]["users"])
        finer = {s: segment_name(named[s], shop, categories=2) for s in alike}
        for s in alike:
            twins = [t for t in alike if finer[t] == finer[s]]
            names_of[s] = finer[s] if len(twins) == 1 else f"{finer[s]} ({twins.index(s) + 1})"
    return names_of


def profiles(snapshot: Snapshot, segment: np.ndarray, categories: list[str]) -> dict[str, dict]:
    """Per segment (and the whole shop, ``all``): size, top categories (those the segment views
    most more than the shop does: the largest ratio of mean shares) and the behaviour facts."""
    frame, shop_shares = snapshot.frame, snapshot.shares.mean(axis=0) + 1e-9

    def facts(mask: np.ndarray) -> dict:
        rows = frame.filter(pl.Series(mask))
        top = np.argsort(-snapshot.shares[mask].mean(axis=0) / shop_shares)[:2]
        return {"users": int(mask.sum()), "share_of_users": float(mask.mean()),
                "top_categories": [categories[j] for j in top],
                "spend_90d": float(rows[SPEND].fill_null(0).mean()),
                "purchases_90d": float(rows[FREQUENCY].fill_null(0).mean()),
                "median_days_since_last_event": float(rows[RECENCY].median() or 0.0),
                "coupon_redemption_rate": float(rows[COUPONS].fill_null(0).mean()),
                "push_open_rate": float(rows[PUSHES].fill_null(0).mean()),
                "churn_rate": float(rows["will_churn"].cast(pl.Float64).mean())}

    shop = facts(np.ones(frame.height, dtype=bool))
    named = {int(s): facts(segment == s) for s in np.unique(segment)}
    names_of = unique_names(named, shop)
    return {**{f"segment {s}: {names_of[s]}": profile for s, profile in named.items()}, "all": shop}


def segment_ids(labels) -> dict[int, str]:
    """Segment id -> name, from profile labels ``segment <id>: <name>`` (a segment with no test
    user has no profile, and no name)."""
    return {int(label.split(": ", 1)[0].removeprefix("segment ")): label.split(": ", 1)[1] for label in labels}


def projection(vectors: np.ndarray, segment: np.ndarray, named: dict[str, dict], seed: int) -> str:
    """The test users on the first two principal axes of their embedding, by segment (a seeded
    sample of PROJECTED_USERS)."""
    from sklearn.decomposition import PCA

    keep = np.random.default_rng(seed).permutation(len(vectors))[:PROJECTED_USERS]
    points = PCA(2, random_state=seed).fit_transform(vectors)[keep]
    names = {i: f"segment {i}: {name}" for i, name in segment_ids(n for n in named if n != "all").items()}
    return scatter_chart("test users on the embedding's first two principal axes", points, segment[keep], names)


def hidden_groups(settings: Settings, users: np.ndarray) -> np.ndarray | None:
    """Per user: favourite category x activity tier (tertiles of the hidden activity)."""
    found = hidden_user_traits(settings, users, "t.favourite_category, ntile(3) OVER (ORDER BY t.activity) AS tier")
    if found is None:
        return None
    return (found["favourite_category"] + "/" + found["tier"].cast(pl.String)).to_numpy()


NEAREST_CHUNK = 16_384      # vectors at a time: the (chunk, k, dimension) differences stay in cache


def nearest(vectors: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Per vector, the index of the nearest centre (squared Euclidean distance, as k-means)."""
    return np.concatenate([((chunk[:, None, :] - centres[None]) ** 2).sum(axis=2).argmin(axis=1)
                           for chunk in np.array_split(vectors, max(1, -(-len(vectors) // NEAREST_CHUNK)))])


def write_user_segments(table: pl.DataFrame, settings: Settings) -> None:
    """The ``user_segment`` view's table (``user_segments``), written atomically."""
    write_atomically(table, settings.features_dir / f"{names.USER_SEGMENT}.parquet")


def user_segments(centres: np.ndarray, settings: Settings) -> pl.DataFrame:
    """The ``user_segment`` view's table: for every row of the ``user_embedding`` view (the
    snapshots of the embedding these segments are drawn in), the nearest centre."""
    source = settings.features_dir / f"{names.USER_EMBEDDING}.parquet"
    vectors = pl.read_parquet(source)
    if vectors.is_empty():
        raise ValueError(f"{source} is empty: run `shopml train user_embedding` first")
    return vectors.select(names.USER_ID, names.EVENT_TIMESTAMP, pl.Series(
        names.SEGMENT, nearest(vector_matrix(vectors[names.EMBEDDING]).astype(np.float64), centres), dtype=pl.Int64))


class ProfileRequest(UsersRequest):
    include_embedding: bool = False


class Segment(BaseModel):
    id: int
    name: str


class UserProfile(BaseModel):
    user_id: int
    known_user: bool
    segment: Segment | None              # None for an unknown user
    preferences: list[PreferenceScore]   # the top categories, the shop's for an unknown user
    interactions: dict[str, float]       # P(like, favorite, share, review within horizon_days); the prior if unknown
    embedding: list[float] | None        # when asked for, and the user is known


class ProfileResponse(BaseModel):
    models: dict[str, str]               # segments, user_embedding, preferences, engagement: the tags answering
    horizon_days: int                    # of the interaction probabilities
    users: list[UserProfile]


class ProfileAnswers:
    """The segment of a user from the embedding of their online features (nearest centre of the
    segments model, which names the embedding it was drawn in), with their preferences and the
    engagement model's interaction probabilities (from the same online read)."""

    def __init__(self, models: dict[str, SavedModel], online: OnlineReader):
        segments, embedding = models["segments"], models["user_embedding"]
        if segments.metadata["embedding"] not in ("user_embedding:latest", embedding.tag):
            log.warning("segments %s were drawn in %s; serving them in %s", segments.tag,
                        segments.metadata["embedding"], embedding.tag)
        self.online, self.preferences = online, PreferencesAnswers(models, online)
        self.encoder, self.columns = encoder_from(embedding.folder, embedding.metadata), embedding.metadata["columns"]
        self.centres = np.load(segments.folder / CENTRES_FILE)
        self.names = segment_ids(segments.metadata["segment_names"])
        self.engagement = ServedUserOutcomes(models["engagement"], online, names.CHURN_V1)
        self.tags = {name: models[name].tag for name in ("segments", "user_embedding", "preferences", "engagement")}

    def answer(self, request: ProfileRequest) -> ProfileResponse:
        users = request.user_ids
        affinity, counts, _ = self.preferences.scores(users)
        features = self.online.read(names.CHURN_V1, {names.USER_ID: users})
        known = known_users(features)
        vectors = self.encoder.embed(assemble(features, view_shares(counts), self.preferences.categories,
                                              self.columns))
        segment = nearest(vectors, self.centres)
        interactions = {head: self.engagement.probabilities(head, features, known)
                        for head in self.engagement.model.boosters}
        categories = self.preferences.categories
        return ProfileResponse(models=self.tags, horizon_days=self.engagement.horizon_days, users=[UserProfile(
            user_id=user, known_user=bool(k),
            segment=Segment(id=int(s), name=self.names.get(int(s), f"segment {s}")) if k else None,
            preferences=[PreferenceScore(category=categories[j], affinity=round(float(a[j]), 6))
                         for j in np.argsort(-a)[:TOP_PREFERENCES]],
            interactions={head: round(float(p[i]), 6) for head, p in interactions.items()},
            embedding=[round(float(x), 6) for x in v] if k and request.include_embedding else None)
            for i, (user, k, s, a, v) in enumerate(zip(users, known, segment, affinity, vectors))])


class SegmentsTask:
    name = "segments"
    question = "Which groups do the customers form?"
    family = "users"
    entity = "user"
    feature_service = names.CHURN_V1
    config_type = SegmentsConfig
    needs = ("user_embedding",)            # drawn in its embedding (``train all`` trains it first)
    evaluation = Tabled("clustering", QUALITY, model=MODEL, reference=RFM, metric="stability_ari",
                        label="week-on-week stability (ARI)")
    endpoint = Endpoint(
        path="/profile", request=ProfileRequest, response=ProfileResponse,
        models=("segments", "user_embedding", "preferences", "engagement"), start=ProfileAnswers,
        example=lambda shop: {"user_ids": [shop.active_user, UNKNOWN_USER], "include_embedding": True},
        doc="Per user: the segment, the top preferences, P(like, favourite, share, review) within the "
            "engagement model's horizon and, when asked, the embedding vector.")

    def build_dataset(self, config: SegmentsConfig, settings: Settings) -> SegmentsData:
        try:
            encoder, columns = load_encoder(config.embedding, settings)
        except Exception as error:          # BentoML's NotFound, or a model folder without its files
            raise ValueError(f"no user embedding {config.embedding!r} in {settings.home}: "
                             "run `shopml train user_embedding` first") from error
        schedule = cutoff_schedule(settings.warehouse_path, LabelSpec(config.horizon_days, train_cutoffs=1))
        times = {"train": schedule["train"][-1], "validation": schedule["validation"][-1],
                 "week_before": schedule["test"][-1] - timedelta(days=STABILITY_DAYS), "test": schedule["test"][-1]}
        rows = labelled_users(settings.warehouse_path, LabelSpec(config.horizon_days), times=list(times.values()))
        dataset, values, _ = user_inputs(rows, settings, columns)
        categories = shop_categories(settings)
        share_columns = [columns.index(f"share={c}") for c in categories if f"share={c}" in columns]
        snapshots = {}
        for split, time in times.items():
            mask = (dataset["cutoff"] == time).to_numpy()
            snapshots[split] = Snapshot(dataset.filter(pl.Series(mask)), encoder.embed(values[mask]),
                                        np.nan_to_num(values[mask][:, share_columns]))
        return SegmentsData([c for c in categories if f"share={c}" in columns], snapshots, config.embedding)

    def train(self, config: SegmentsConfig, data: SegmentsData) -> dict:
        """k-means for every k of the range (or the given k) on the training cut-off's users."""
        vectors = data.snapshots["train"].vectors
        ks = range(config.k_range[0], config.k_range[1] + 1) if config.k is None else (config.k,)
        return {k: _fit(vectors, k, config.seed) for k in ks}

    def choose(self, config: SegmentsConfig, model: dict, data: SegmentsData, settings: Settings) -> SegmentsConfig:
        if config.k is not None:
            return config
        vectors = data.snapshots["validation"].vectors
        scores = {k: silhouette(vectors, fitted.predict(vectors), config.seed) for k, fitted in model.items()}
        chosen = max(scores, key=scores.get)
        log.info("segments: silhouette of the validation users per k %s; chosen k=%d",
                 {k: round(v, 3) for k, v in scores.items()}, chosen)
        return replace(config, k=chosen)

    def evaluate(self, config: SegmentsConfig, model: dict, data: SegmentsData, settings: Settings) -> Evaluation:
        fitted, train = model[config.k], data.snapshots["train"].frame
        medians = {c: float(train[c].fill_null(0).median()) for c in (RECENCY, FREQUENCY, SPEND)}
        test, before = data.snapshots["test"], data.snapshots["week_before"]
        assign = {MODEL: lambda s: fitted.predict(s.vectors), RFM: lambda s: rfm(s.frame, medians)}
        users_now, users_before = test.frame[names.USER_ID].to_numpy(), before.frame[names.USER_ID].to_numpy()
        both, now_index, before_index = np.intersect1d(users_now, users_before, return_indices=True)
        truth = hidden_groups(settings, users_now)
        quality = {}
        for name, segment_of in assign.items():
            now, earlier = segment_of(test), segment_of(before)
            quality[name] = {"segments": int(len(np.unique(now))),
                             "silhouette_in_embedding": silhouette(test.vectors, now, config.seed),
                             "stability_ari": adjusted_rand(now[now_index], earlier[before_index]),
                             "stable_users": int(len(both))}
            if truth is not None:
                quality[name] |= {"ari_hidden_groups": adjusted_rand(truth, now),
                                  "nmi_hidden_groups": normalized_mutual_info(truth, now)}
        segment = fitted.predict(test.vectors)
        named = profiles(test, segment, data.categories)
        return Evaluation(heads={}, figures=[projection(test.vectors, segment, named, config.seed)], tables={
            QUALITY: quality,
            PROFILES: {name: {k: v for k, v in facts.items() if k != "top_categories"}
                       | {"top_category": (facts["top_categories"] or [""])[0]}
                       for name, facts in named.items()},
            "chosen on validation": {MODEL: {"k": config.k}}})

    def save(self, config: SegmentsConfig, model: dict, data: SegmentsData, metrics: dict,
             settings: Settings) -> str:
        centres = model[config.k].cluster_centers_
        metadata = {"config": {**config.__dict__, "k_range": list(config.k_range)}, "metrics": metrics,
                    "embedding": data.embedding_tag, "categories": data.categories,
                    "segment_names": [n for n in metrics[PROFILES] if n != "all"]}
        table = user_segments(centres, settings)

        def write(folder: Path) -> None:
            np.save(folder / CENTRES_FILE, centres)
            write_members(table, folder)

        tag = save_artifact(self.name, task_labels(self), metadata, settings, write)
        write_user_segments(table, settings)
        log.info("segments: %d user segments written to %s", table.height, settings.features_dir)
        return tag
