"""Recommendations: which items to show a user, best first. Multi-stage, as large shops do it:
several sources propose candidates (``training.candidates``: co-occurrence, FAISS neighbours of
the user's latest items, best sellers of their categories, best sellers overall), then a LightGBM
lambdarank orders them on the sources' scores and the Feast features of the user and the item
(``recommend_v1``: the user's activity, their taste for the item's category, how the item sells).

Point in time, weekly cut-offs: at each, the candidates come from what was known before it (the
``user_recent_items`` view, sales of the last 30 days from ``item_stats``, co-occurrence of the
sequences before it) and a candidate is a positive when the user buys it in the week after. The
ranker trains on the earliest weeks, stops early and is chosen on the next, and the latest weeks
are read once. Items the user bought lately (``bought_item_*``) are left out, as the service does
by default.

The shop also logs its recommendation carousels with their exposure (``training.carousel_logs``),
whose clicks say how much an item attracts a user. How the ranker learns is chosen on the
validation week, by NDCG@10 of its buyers' candidates:

- ``purchases``: the candidates' features, labelled by the week's purchases alone;
- ``purchases+explored``: first an attraction model on the carousels' exploration slice (random
  items in random order), each click weighted by the inverse of the examination curve measured
  there, on the ``recommend_v1`` features (a carousel's items have no source scores); its score is
  then one more feature of the purchase ranker (``ATTRACTION``), which learns how much to trust it;
- ``purchases+shown``: the same, the attraction model learned from every shown carousel item, the
  position handed to LightGBM's unbiased lambdarank (the production order's exposure left as is).

Judged on the test weeks' buyers by HR@10, NDCG@10 (the week's purchases as relevant), catalogue
coverage and novelty of the top 10, against each source alone (``popular`` is the popularity
baseline); on simulated data also by the expected purchases of the top 10 under the simulator's
choice (the next-item oracle: hidden category taste times the item's share of its category's
purchases that week) as a share of the best possible top 10's.

Served as ``POST /recommend``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated

import lightgbm as lgb
import numpy as np
import polars as pl
from pydantic import BaseModel, StringConstraints
from scipy import sparse

from feature_repo.definitions import names
from shopml.matrix import FeatureLayout
from shopml.model_store import artifact_folder, boosters_in
from shopml.retrieval import ItemIndex
from shopml.serving import K, Endpoint, Id, ItemResult, NotReady, OnlineReader, Request, SavedModel
from shopml.settings import Settings
from shopml.warehouse.database import connect

from ..boosting import BoostingConfig, save_task_model
from ..candidates import ITEM, PROPOSED_BY, ROW, SCORES, SOURCES, CandidateSources, Catalogue, proposed_by
from ..carousel_logs import CAROUSEL_ID, CLICKED, CarouselLogs, carousel_logs
from ..datasets import point_in_time_dataset
from ..evaluation import Evaluation
from ..exposure import EXPOSURE_LABEL, fit_lambdarank
from ..item_index import INDEX_MODEL
from ..item_sequences import ItemIndex as Positions, following_matrix, sequences_before
from ..kinds import ranking
from ..labels import CUTOFF, midnight_after
from ..metrics.ranking import ranked_frame_quality
from .next_item import taste_oracle

log = logging.getLogger(__name__)

HEAD, LABEL, QUERY = "rank", "purchased", "query"
TABLE = "recommendations on the test weeks' buyers (top 10)"
CHOICES = "choices on the validation week (NDCG@10 of its buyers' candidates)"
LEARNERS = ("purchases", "purchases+explored", "purchases+shown")
ATTRACTION, ATTRACTION_HEAD = "carousel_attraction", "attraction"
MODEL, ORACLE = "ranker", "oracle"
HORIZON = timedelta(days=7)
FOLLOWING_FILE, CATALOGUE_FILE = "following.npz", "catalogue.parquet"
SALES = f"{names.ITEM_STATS}__purchases_30d"
CATEGORY = f"{names.ITEM_CONTENT}__category"
BUYERS_SQL = """
SELECT user_id AS {user}, list(DISTINCT item_id) AS bought FROM events
WHERE event_type = 'purchase' AND ts >= ?::TIMESTAMPTZ AND ts < ?::TIMESTAMPTZ GROUP BY user_id
"""


@dataclass(frozen=True)
class RecommendationsConfig(BoostingConfig):
    train_weeks: int = 4              # weekly cut-offs the ranker learns from
    validation_weeks: int = 1         # early stopping
    test_weeks: int = 2               # held out, the latest
    history_days: int = 90            # sequences read for co-occurrence before a cut-off
    per_source: int = 50              # candidates each source proposes
    max_users: int = 4000             # buyers sampled per cut-off
    exclude_purchased: bool = True    # leave out the user's latest purchases, as /recommend does by default
    # How the ranker learns (see the module docstring): one of LEARNERS, or "auto": the best on validation.
    learning: str = "auto"
    carousel_weeks: int = 26          # weeks of carousels before the first validation cut-off
    max_carousels: int = 5_000        # carousels sampled per split and slice
    min_explored_carousels: int = 200  # fewer explored ones before validation (or a tenth in it): purchases only
    min_data_in_leaf: int = 50


@dataclass
class RecommendationsData:
    splits: dict[str, pl.DataFrame]       # train / validation / test: candidate rows with features and LABEL
    layout: FeatureLayout
    catalogue: Catalogue                  # as of the latest cut-off: what the service starts from
    following: sparse.csr_matrix          # co-occurrence of every sequence before the end
    purchases: pl.DataFrame               # test weeks: every (QUERY, item_id) bought
    oracle: dict[datetime, tuple]         # test cut-off -> (users, their (users, items + 1) oracle scores,
                                          # the item positions), empty on imported data
    carousels: CarouselLogs | None        # the carousels before the test weeks (None: none to learn from)
    choices: dict[str, float] = field(default_factory=dict)    # learner -> validation NDCG@10


def _cutoffs(settings: Settings, config: RecommendationsConfig) -> list[datetime]:
    with connect(settings.warehouse_path) as con:
        last = con.execute("SELECT max(ts) FROM events WHERE event_type = 'purchase'").fetchall()[0][0]
    if last is None:
        raise ValueError("the warehouse has no purchases")
    latest = midnight_after(last) - HORIZON
    weeks = config.train_weeks + config.validation_weeks + config.test_weeks
    return [latest - HORIZON * k for k in range(weeks)][::-1]


def catalogue_at(settings: Settings, cutoff: datetime) -> Catalogue:
    """Every item with its category and its sales of the 30 days before ``cutoff`` (Feast, point in time)."""
    with connect(settings.warehouse_path) as con:
        items = con.sql(f"SELECT item_id AS {names.ITEM_ID} FROM items").pl()
    rows = items.with_columns(pl.lit(cutoff).cast(pl.Datetime("us", "UTC")).alias(names.EVENT_TIMESTAMP))
    featured = point_in_time_dataset(rows, names.SEARCH_V1, settings)
    return Catalogue.of(featured, names.ITEM_ID, CATEGORY, SALES)


def _buyers(settings: Settings, cutoff: datetime, config: RecommendationsConfig) -> pl.DataFrame:
    """The users who buy in the week after ``cutoff`` (a sample), with what they bought and their
    latest items as of the cut-off (``recent_items_v1``); those without any are left out."""
    with connect(settings.warehouse_path) as con:
        buyers = con.sql(BUYERS_SQL.format(user=names.USER_ID), params=[cutoff, cutoff + HORIZON]).pl()
    buyers = buyers.sample(min(buyers.height, config.max_users), seed=config.seed).sort(names.USER_ID)
    rows = buyers.with_columns(pl.lit(cutoff).cast(pl.Datetime("us", "UTC")).alias(names.EVENT_TIMESTAMP))
    recent = point_in_time_dataset(rows, names.RECENT_ITEMS_V1, settings)
    first = f"{names.USER_RECENT_ITEMS}__{names.RECENT_ITEMS[0]}"
    return recent.filter(pl.col(first).is_not_null())


def _candidate_rows(sources: CandidateSources, buyers: pl.DataFrame, cutoff: datetime, week: int,
                    config: RecommendationsConfig, settings: Settings) -> pl.DataFrame:
    """The candidates of each buyer with the sources' scores, LABEL and the ranker's features."""
    view = names.USER_RECENT_ITEMS
    recent = buyers.select(f"{view}__{c}" for c in names.RECENT_ITEMS).to_numpy()
    candidates = sources.propose(recent).join(
        buyers.with_row_index(ROW).select(pl.col(ROW).cast(pl.Int64), names.USER_ID, "bought",
                                          pl.concat_list(f"{view}__{c}" for c in names.BOUGHT_ITEMS).alias("before")),
        on=ROW)
    if config.exclude_purchased:
        candidates = candidates.filter(~pl.col("before").list.contains(pl.col(ITEM).cast(pl.Float64)).fill_null(False))
    catalogue = sources.catalogue
    category = dict(zip(catalogue.item_ids.tolist(), [catalogue.categories[c] if c >= 0 else None
                                                      for c in catalogue.category]))
    rows = candidates.with_columns(
        pl.col(ITEM).replace_strict(category, default=None, return_dtype=pl.String).alias(names.CATEGORY),
        pl.col("bought").list.contains(pl.col(ITEM)).cast(pl.Int64).alias(LABEL),
        (pl.lit(week, pl.Int64) * 10**12 + pl.col(names.USER_ID)).alias(QUERY),
        pl.lit(cutoff).cast(pl.Datetime("us", "UTC")).alias(names.EVENT_TIMESTAMP),
        pl.lit(cutoff).cast(pl.Datetime("us", "UTC")).alias(CUTOFF),
    ).drop("bought", "before", ROW)
    return point_in_time_dataset(rows, names.RECOMMEND_V1, settings).sort(QUERY, names.ITEM_ID)


def feature_layout(train: pl.DataFrame) -> FeatureLayout:
    """The sources' scores and how many proposed the item, and every ``recommend_v1`` feature."""
    featured = FeatureLayout.from_training(train)
    return FeatureLayout(numeric=(*SCORES, PROPOSED_BY, *featured.numeric), categorical=featured.categorical)


def attraction_layout(layout: FeatureLayout) -> FeatureLayout:
    """The ranker's features that a carousel's items have too: every ``recommend_v1`` one."""
    other = {*SCORES, PROPOSED_BY, ATTRACTION}
    return FeatureLayout(numeric=tuple(c for c in layout.numeric if c not in other), categorical=layout.categorical)


@dataclass(frozen=True)
class Ranker:
    """The purchase ranker and, when it learned from the carousels, their attraction model, whose
    score is one of its features."""

    rank: lgb.Booster
    layout: FeatureLayout
    attraction: lgb.Booster | None = None

    @cached_property
    def carousel_layout(self) -> FeatureLayout:
        return attraction_layout(self.layout)

    def score(self, features: pl.DataFrame) -> np.ndarray:
        if self.attraction is not None:
            features = with_attraction(features, self.attraction, self.carousel_layout)
        return self.rank.predict(self.layout.matrix(features))

    def score_online(self, features: dict[str, list]) -> np.ndarray:
        """``score`` of the few rows of a request (lists, as an online read returns them), on one thread."""
        if self.attraction is not None:
            features = {**features, ATTRACTION: self.attraction.predict(self.carousel_layout.array(features),
                                                                        num_threads=1)}
        return self.rank.predict(self.layout.array(features), num_threads=1)


def with_attraction(features: pl.DataFrame, attraction: lgb.Booster, layout: FeatureLayout) -> pl.DataFrame:
    """``features`` with ATTRACTION, the carousel attraction model's score on ``layout``."""
    return features.with_columns(pl.Series(ATTRACTION, attraction.predict(layout.matrix(features))))


class RecommendRequest(Request):
    user_id: Id
    k: K = 10
    category: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = None
    exclude_purchased: bool = True       # leave out the items the user bought lately


class RecommendedItem(ItemResult):
    sources: list[str]                   # which candidate sources proposed it


class RecommendResponse(BaseModel):
    user_id: int
    known_user: bool
    fallback: str | None                 # "popular items" when the user has no recent items
    items: list[RecommendedItem]         # best first; score = the ranker's


class RecommendAnswers:
    def __init__(self, models: dict[str, SavedModel], online: OnlineReader):
        saved, index = models["recommendations"], models[INDEX_MODEL]
        catalogue = pl.read_parquet(saved.folder / CATALOGUE_FILE)
        self.catalogue = replace(Catalogue.of(catalogue, ITEM, "category", "sales"),
                                 sales=_online_sales(online, catalogue[ITEM].to_list()))
        self.sources = CandidateSources(self.catalogue, sparse.load_npz(saved.folder / FOLLOWING_FILE),
                                        ItemIndex.load(index.folder), int(saved.metadata["config"]["per_source"]))
        boosters = boosters_in(saved.folder, saved.metadata)
        self.ranker = Ranker(boosters[saved.metadata["primary_head"]], FeatureLayout.from_metadata(saved.metadata),
                             boosters.get(ATTRACTION_HEAD))
        self.online = online
        self.category_of = dict(zip(catalogue[ITEM].to_list(), catalogue["category"].to_list()))
        self.index = self.sources.index

    def answer(self, request: RecommendRequest) -> RecommendResponse:
        if request.category is not None and request.category not in self.catalogue.categories:
            from bentoml.exceptions import InvalidArgument      # bentoml is imported once the model store is chosen

            raise InvalidArgument(f"category: {request.category!r} is not one of the shop's categories "
                                  f"({', '.join(self.catalogue.categories)})")
        latest = self.online.read(names.RECENT_ITEMS_V1, {names.USER_ID: [request.user_id]})
        recent = np.array([[latest[f"{names.USER_RECENT_ITEMS}__{c}"][0] for c in names.RECENT_ITEMS]], dtype=float)
        bought = {int(v) for c in names.BOUGHT_ITEMS
                  if (v := latest[f"{names.USER_RECENT_ITEMS}__{c}"][0]) is not None} if request.exclude_purchased else set()
        if np.isnan(recent).all():
            return self._popular(request, bought, known_user=False)
        candidates = self.sources.propose(recent).filter(~pl.col(ITEM).is_in(list(bought)))
        if request.category is not None:
            candidates = self._within(candidates, request, bought)
            if candidates.is_empty():
                return self._popular(request, bought, known_user=True)
        items = candidates[ITEM].to_list()
        features = self.online.read(names.RECOMMEND_V1, {names.USER_ID: [request.user_id] * len(items),
                                                         names.ITEM_ID: items,
                                                         names.CATEGORY: [self.category_of.get(i) for i in items]})
        features.update({column: candidates[column].to_list() for column in (*SCORES, PROPOSED_BY)})
        scores = self.ranker.score_online(features)
        best = np.argsort(-scores, kind="stable")[:request.k]
        proposed = candidates.select(SCORES).to_numpy() > 0
        return RecommendResponse(user_id=request.user_id, known_user=True, fallback=None, items=[
            RecommendedItem(item_id=int(items[i]), title=self.index.title(items[i]), score=round(float(scores[i]), 6),
                            sources=[s for s, on in zip(SOURCES, proposed[i]) if on]) for i in best])

    def _within(self, candidates: pl.DataFrame, request: RecommendRequest, bought: set[int]) -> pl.DataFrame:
        """The candidates of the requested category, topped up to k with its best sellers (as the
        ``popular`` source proposes them) when the user's sources propose fewer."""
        inside = candidates.filter(pl.col(ITEM).replace_strict(self.category_of, default=None) == request.category)
        best = self.sources.popular(1, self.catalogue.categories.index(request.category)).filter(
            ~pl.col(ITEM).is_in([*bought, *inside[ITEM].to_list()])).head(max(request.k - inside.height, 0))
        popular = SCORES[SOURCES.index("popular")]
        extra = best.select(pl.col(ROW), pl.col(ITEM), *(pl.col("score").alias(s) if s == popular else
                                                        pl.lit(0.0).alias(s) for s in SCORES)).with_columns(proposed_by())
        return pl.concat([inside, extra]) if extra.height else inside

    def _popular(self, request: RecommendRequest, bought: set[int], known_user: bool) -> RecommendResponse:
        """The best sellers (of the requested category), flagged: the user has no recent items, or
        none of theirs leads to an item of the category."""
        catalogue = self.catalogue
        code = catalogue.categories.index(request.category) if request.category is not None else None
        best = [p for p in catalogue.best_sellers(request.k + len(bought), code)
                if int(catalogue.item_ids[p]) not in bought][:request.k]
        most = max(catalogue.sales.max(), 1.0)
        return RecommendResponse(user_id=request.user_id, known_user=known_user, fallback="popular items", items=[
            RecommendedItem(item_id=int(catalogue.item_ids[p]), title=self.index.title(catalogue.item_ids[p]),
                            score=round(float(catalogue.sales[p]) / most, 6), sources=["popular"]) for p in best])


def _online_sales(online: OnlineReader, items: list[int], batch: int = 2000) -> np.ndarray:
    """Each item's purchases of the last 30 days as the online store holds them now (0 when none):
    the best sellers stay current between trainings."""
    sales = [value for start in range(0, len(items), batch)
             for value in online.read(names.SEARCH_V1, {names.ITEM_ID: items[start:start + batch]})[SALES]]
    if all(value is None for value in sales):
        raise NotReady("the online store holds none of the catalogue's items: run `shopml features materialize`")
    return np.array([value or 0.0 for value in sales], dtype=float)


class RecommendationsTask:
    name = "recommendations"
    question = "Which items should we recommend to this user?"
    family = "ranking"
    entity = "user"
    feature_service = names.RECOMMEND_V1
    evaluation = ranking(TABLE, model=MODEL, reference="popular")
    endpoint = Endpoint(
        path="/recommend", request=RecommendRequest, response=RecommendResponse,
        models=("recommendations", INDEX_MODEL), start=RecommendAnswers,
        example=lambda shop: {"user_id": shop.active_user, "k": 5},
        doc="The k items to recommend to `user_id` (optionally of one `category`), best first, with the sources "
            "that proposed each; a user without recent items gets the best sellers, flagged.")
    config_type = RecommendationsConfig

    def build_dataset(self, config: RecommendationsConfig, settings: Settings) -> RecommendationsData:
        if config.learning not in ("auto", *LEARNERS):
            raise ValueError(f"learning: {config.learning!r} is not one of auto, {', '.join(LEARNERS)}")
        index_folder, _ = artifact_folder(f"{INDEX_MODEL}:latest", settings)
        index = ItemIndex.load(index_folder)
        cutoffs = _cutoffs(settings, config)
        history = timedelta(days=config.history_days)
        frames, purchases, oracle = [], [], {}
        for week, cutoff in enumerate(cutoffs):
            catalogue = catalogue_at(settings, cutoff)
            positions = Positions(catalogue.item_ids)
            sequences = sequences_before(settings, cutoff, history, positions)
            sources = CandidateSources(catalogue, following_matrix(list(sequences.values()), len(catalogue.item_ids)),
                                       index, config.per_source)
            buyers = _buyers(settings, cutoff, config)
            rows = _candidate_rows(sources, buyers, cutoff, week, config, settings)
            frames.append(rows)
            if week >= len(cutoffs) - config.test_weeks:
                purchases.append(buyers.select((pl.lit(week, pl.Int64) * 10**12 + pl.col(names.USER_ID)).alias(QUERY),
                                               pl.col("bought").alias(names.ITEM_ID)).explode(names.ITEM_ID))
                found = taste_oracle(settings, cutoff, buyers[names.USER_ID].to_numpy(), positions)
                if found is not None:
                    oracle[cutoff] = (buyers[names.USER_ID].to_numpy(), found, positions)
            log.info("recommendations: cut-off %s: %d buyers, %d candidates, %.1f%% of purchases among them",
                     cutoff.date(), buyers.height, rows.height,
                     100 * rows[LABEL].sum() / max(buyers["bought"].list.len().sum(), 1))
        first_validation, first_test = (cutoffs[config.train_weeks],
                                        cutoffs[config.train_weeks + config.validation_weeks])
        everything = pl.concat(frames, how="diagonal_relaxed")
        splits = {"train": everything.filter(pl.col(CUTOFF) < first_validation),
                  "validation": everything.filter((pl.col(CUTOFF) >= first_validation) & (pl.col(CUTOFF) < first_test)),
                  "test": everything.filter(pl.col(CUTOFF) >= first_test)}
        end = cutoffs[-1] + HORIZON
        latest = catalogue_at(settings, end)
        served = following_matrix(list(sequences_before(settings, end, history, Positions(latest.item_ids)).values()),
                                  len(latest.item_ids))
        carousels = carousel_logs(settings, first_validation, first_test, config.carousel_weeks, config.max_carousels,
                                  config.min_explored_carousels, config.seed)
        if carousels is None and config.learning not in ("auto", "purchases"):
            raise ValueError(f"learning={config.learning!r} needs the shop's recommendation carousels, and the "
                             "warehouse has too few explored ones")
        return RecommendationsData(splits=splits, layout=feature_layout(splits["train"]), catalogue=latest,
                                   following=served, purchases=pl.concat(purchases), oracle=oracle,
                                   carousels=carousels)

    def train(self, config: RecommendationsConfig, data: RecommendationsData) -> dict[str, Ranker]:
        """One ranker per learner (without carousels, ``purchases`` only)."""
        chosen = (LEARNERS if config.learning == "auto" else (config.learning,)) if data.carousels else ("purchases",)
        learnable = {name: _with_a_positive(data.splits[name]) for name in ("train", "validation")}
        return {learning: _fit_ranker(learning, config, data, learnable) for learning in chosen}

    def choose(self, config: RecommendationsConfig, model: dict[str, Ranker], data: RecommendationsData,
               settings: Settings) -> RecommendationsConfig:
        """The learner whose order of the validation buyers' candidates has the best NDCG@10 of
        their purchases (the first of equals)."""
        valid = data.splits["validation"]
        for learning, ranker in model.items():
            data.choices[learning] = candidates_ndcg(valid, ranker.score(valid))
        best = max(data.choices, key=data.choices.get)
        log.info("recommendations: validation NDCG@10 by learner %s; chosen %r",
                 {k: round(v, 4) for k, v in data.choices.items()}, best)
        return replace(config, learning=best)

    def evaluate(self, config: RecommendationsConfig, model: dict[str, Ranker], data: RecommendationsData,
                 settings: Settings) -> Evaluation:
        test = data.splits["test"].with_columns(pl.Series("score", model[config.learning].score(data.splits["test"])))
        choices = {learning: {"ndcg_at_10": value, "chosen": float(learning == config.learning)}
                   for learning, value in data.choices.items()}
        return Evaluation(heads={}, tables={TABLE: recommendation_quality(test, data), CHOICES: choices})

    def save(self, config: RecommendationsConfig, model: dict[str, Ranker], data: RecommendationsData,
             metrics: dict, settings: Settings) -> str:
        def write(folder: Path) -> None:
            sparse.save_npz(folder / FOLLOWING_FILE, data.following)
            pl.DataFrame({ITEM: data.catalogue.item_ids, "category": [
                data.catalogue.categories[c] if c >= 0 else None for c in data.catalogue.category],
                "sales": data.catalogue.sales}).write_parquet(folder / CATALOGUE_FILE)

        ranker = model[config.learning]
        boosters = {HEAD: ranker.rank, **({ATTRACTION_HEAD: ranker.attraction} if ranker.attraction else {})}
        return save_task_model(self, boosters, HEAD, config, data.splits, ranker.layout, metrics, settings, write)


def _fit_ranker(learning: str, config: RecommendationsConfig, data: RecommendationsData,
                learnable: dict[str, pl.DataFrame]) -> Ranker:
    """The purchase ranker by ``learning`` (see the module docstring) on ``learnable``'s training
    buyers, early-stopped on its validation buyers."""
    if learning == "purchases":
        return Ranker(fit_lambdarank(config, data.layout, QUERY, learnable, LABEL), data.layout)
    logs, carousel_layout = data.carousels, attraction_layout(data.layout)
    if learning == "purchases+explored":
        attraction = fit_lambdarank(config, carousel_layout, CAROUSEL_ID, logs.explored, EXPOSURE_LABEL,
                                    gains=logs.gains)
    else:
        attraction = fit_lambdarank(config, carousel_layout, CAROUSEL_ID, logs.shown, CLICKED, position=True)
    layout = FeatureLayout(numeric=(*data.layout.numeric, ATTRACTION), categorical=data.layout.categorical)
    featured = {name: with_attraction(frame, attraction, carousel_layout) for name, frame in learnable.items()}
    return Ranker(fit_lambdarank(config, layout, QUERY, featured, LABEL), layout, attraction)


def _with_a_positive(frame: pl.DataFrame) -> pl.DataFrame:
    """The queries with at least one bought candidate: the only ones a ranking loss learns from."""
    return frame.filter(pl.col(LABEL).max().over(QUERY) > 0)


def candidates_ndcg(frame: pl.DataFrame, score: np.ndarray, k: int = 10) -> float:
    """Mean NDCG@k over ``frame``'s queries of its candidates ordered by ``score``, its bought
    candidates (LABEL) relevant; queries without one count 0."""
    ranked = frame.select(QUERY, names.ITEM_ID).with_columns(pl.Series("score", score)).with_columns(
        pl.col("score").rank("ordinal", descending=True).over(QUERY).alias("rank"))
    bought = frame.filter(pl.col(LABEL) > 0).select(QUERY, names.ITEM_ID, pl.lit(1).alias("grade"))
    quality = ranked_frame_quality(ranked.filter(pl.col("rank") <= k), bought, QUERY, names.ITEM_ID, k=k, depth=k,
                                   relevant=1)
    return quality["ndcg"] * quality["queries"] / max(frame[QUERY].n_unique(), 1)


def recommendation_quality(test: pl.DataFrame, data: RecommendationsData, k: int = 10) -> dict[str, dict[str, float]]:
    """Per system (the ranker, each source alone): HR@k, NDCG@k, coverage and novelty of the top
    k, and the oracle's expected purchases of the top k as a share of its best possible top k."""
    systems = {MODEL: "score", **{source: score for source, score in zip(SOURCES, SCORES)}}
    catalogue = data.catalogue
    share = (catalogue.sales + 1) / (catalogue.sales.sum() + len(catalogue.sales))
    novelty_of = dict(zip(catalogue.item_ids.tolist(), (-np.log2(share)).tolist()))
    relevant = data.purchases.with_columns(pl.lit(1).alias("grade"))
    queries = relevant.select(QUERY).unique().height            # every test buyer, candidates or not
    rows = {}
    for name, column in systems.items():
        ranked = test.filter(pl.col(column) > 0).sort([QUERY, column, names.ITEM_ID], descending=[False, True, False])
        ranked = ranked.with_columns(pl.int_range(1, pl.len() + 1).over(QUERY).alias("rank")).filter(pl.col("rank") <= k)
        quality = ranked_frame_quality(ranked.select(QUERY, names.ITEM_ID, "rank"), relevant, QUERY, names.ITEM_ID,
                                       k=k, depth=k, relevant=1)
        hits = ranked.join(relevant, on=[QUERY, names.ITEM_ID]).select(QUERY).unique().height
        rows[name] = {f"hr_at_{k}": hits / max(queries, 1), f"ndcg_at_{k}": quality["ndcg"] * quality["queries"] / max(
            queries, 1), f"coverage_at_{k}": ranked[names.ITEM_ID].n_unique() / len(catalogue.item_ids),
            f"novelty_at_{k}": float(np.mean([novelty_of.get(i, 0.0) for i in ranked[names.ITEM_ID].to_list()]))}
        share_of_best = _oracle_share(ranked, data, k)
        if share_of_best is not None:
            rows[name]["share_of_best_expected_purchases"] = share_of_best
    return rows


def _oracle_share(ranked: pl.DataFrame, data: RecommendationsData, k: int) -> float | None:
    """Mean over the test buyers of the oracle's expected purchases of the top k over those of its own best top k."""
    if not data.oracle:
        return None
    shares = []
    for cutoff, (users, scores, positions) in data.oracle.items():
        scores = np.where(np.isfinite(scores), scores, 0.0)
        best = -np.sort(-scores, axis=1)[:, :k].sum(axis=1)
        row_of = {u: i for i, u in enumerate(users.tolist())}
        week = ranked.filter(pl.col(CUTOFF) == cutoff)
        got = np.zeros(len(users))
        if week.height:
            rows = np.array([row_of[u] for u in week[names.USER_ID].to_list()])
            np.add.at(got, rows, scores[rows, positions.of(week[names.ITEM_ID].to_numpy())])
        shares.append(np.divide(got, best, out=np.zeros(len(users)), where=best > 0))
    return float(np.concatenate(shares).mean())
