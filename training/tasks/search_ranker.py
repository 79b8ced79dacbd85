"""Search ranking: FAISS retrieves the 100 items nearest a query's embedding, a LightGBM
``lambdarank`` model reorders them.

Training rows are what shoppers were shown (the search impressions of the earlier weeks),
labelled 2 when bought, 1 when clicked, else 0, with the shown position; and the engine's
exploration slice (searches answered by a random sample of the subcategory, logged as ``explored``)
over more weeks. The learner is chosen on the validation searches (``training.exposure``):
LightGBM's unbiased lambdarank on every shown result, the exploration slice alone weighted by the
inverse of the examination curve measured there, or the first continued on the second.
Features: embedding cosine and lexical overlap (``shopml.search``) and, when ``item_features``
names them, the item's features from Feast (``search_v1``) as of the search's time; "auto"
chooses with or without them on validation too. Learned from the production ranking's shown
results alone, they rank worse: the engine showed the most appealing items, so among shown
results popularity marks the items *not* sought (docs/decisions/search-labels.md).

The ranker's score is coarse (a few distinct values among a search's candidates); candidates it
scores alike are ordered by one Feast item feature, the ``tie_break`` chosen on the validation
searches' candidates (``choose``).

Evaluation is on later searches, against the simulator's relevance grades (``truth``): NDCG@10
and recall@100 (items of grade >= ``relevant_grade``) for (a) the most-bought items of the last
30 days, (b) embedding retrieval alone, (c) retrieval + reranker. Recall@100 of (b) and (c) is
the same candidate set. Every choice (learner, item features, tie-break) reads the validation
searches only; the test searches are read once, by ``evaluate``.

Served as ``POST /search``: the query is encoded by the shipped text model, FAISS retrieves the
candidates and the ranker reorders them on the items' online Feast features.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import cached_property
from typing import Annotated

import lightgbm as lgb
import numpy as np
import polars as pl
from pydantic import BaseModel, StringConstraints

from feature_repo.definitions import names
from shopml.retrieval import ItemIndex
from shopml.search import MAX_QUERY_CHARS, QUERY_ITEM_FEATURES, TIE_BREAK_CANDIDATES, query_item_features, ranking
from shopml.matrix import FeatureLayout
from shopml.model_store import artifact_folder, boosters_in
from shopml.serving import K, Endpoint, Id, ItemResult, NotReady, OnlineReader, Request, SavedModel
from shopml.settings import Settings
from shopml.text_model import ENCODER, TextEncoder
from shopml.warehouse.database import connect, has_truth

from ..boosting import BoostingConfig, save_task_model
from ..datasets import point_in_time_dataset
from ..embeddings import cached_vectors
from ..evaluation import Evaluation
from ..exposure import (LogSampling, RankingLogs, examination_curve, exposure_labels, fit_learner, label_gains,
                        learners, logged_splits)
from ..item_index import INDEX_MODEL
from ..kinds import ranking as ranking_kind
from ..labels import CUTOFF, WEEK_START_SQL, midnight_after
from ..metrics.ranking import ranked_frame_quality

log = logging.getLogger(__name__)

HEAD, LABEL, SEARCH_ID = "rank", "grade_label", "search_id"
CATEGORICAL = ("item_content__category", "item_content__subcategory")
LABEL_WINDOW = timedelta(hours=1)    # a search's clicks and purchase come within its session (under 30 min)
QUALITY = "search quality on later searches"
CHOICES = "choices on the validation searches (NDCG@10)"


@dataclass(frozen=True)
class SearchRankerConfig(BoostingConfig):
    weeks: int = 8                    # weeks of searches, the latest whole ones
    validation_weeks: int = 1         # for early stopping and every choice
    test_weeks: int = 1               # held out, the latest
    max_train_searches: int = 20_000  # sampled from the training weeks (encoding queries costs time)
    max_test_searches: int = 2_000
    exploration_weeks: int = 26       # weeks of the engine's exploration traffic (a small slice of all searches)
    max_explored_searches: int = 20_000
    min_explored_searches: int = 200  # fewer in the slice's training weeks (or a tenth in validation's): shown results only
    candidates: int = 100             # retrieved by FAISS, then reranked
    relevant_grade: int = 2           # recall counts items of at least this grade
    # How the ranker learns from the logs (training.exposure): "shown", "explored",
    # "shown+explored", or "auto": the best on the validation searches.
    learning: str = "auto"
    # Feast item features in the ranker: "all" (item_stats, base price, category, subcategory),
    # "" (none), a comma-separated list of item_stats features, or "auto": with all or none,
    # whichever ranks the validation searches better.
    item_features: str = "auto"
    min_data_in_leaf: int = 50
    # The item_stats column that orders candidates the ranker scores alike (larger first), "" for
    # retrieval order; "auto": the best of TIE_BREAK_CANDIDATES by NDCG@10 on the validation
    # searches' candidates (never the test's).
    tie_break: str = "auto"


@dataclass
class SearchData:
    logs: RankingLogs                    # training rows: shown results and the exploration slice
    test: pl.DataFrame                   # the test searches' retrieved candidates
    layouts: dict[str, FeatureLayout]    # by item_features choice
    candidates: dict[str, pl.DataFrame]  # validation and test searches: the retrieved candidates
    grades: dict[str, pl.DataFrame]      # validation and test searches: every relevant item with its grade
    popular: dict[str, np.ndarray]       # item ids, most bought first, as of the first validation / test week
    examination: np.ndarray              # measured on the exploration slice, relative to position 1
    pairs: SearchPairs                   # builds more rows of the sampled searches (bench.search_labels)
    choices: dict[str, dict[str, float]] = field(default_factory=dict)   # variant -> tie-break -> validation NDCG@10

    @property
    def splits(self) -> dict[str, pl.DataFrame]:
        return {**self.logs.shown, **{f"explored_{k}": v for k, v in self.logs.explored.items()}, "test": self.test}


SEARCHES_SQL = f"""
SELECT search_id, ts AS {names.EVENT_TIMESTAMP}, left(query, {MAX_QUERY_CHARS}) AS query,
       {WEEK_START_SQL.format(ts="ts")} AS {CUTOFF}
FROM searches WHERE ts >= ?::TIMESTAMPTZ - to_days(7 * ?) AND (explored OR NOT ?) ORDER BY search_id
"""


def _searches(settings: Settings, config: SearchRankerConfig) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame]]:
    """The sampled searches of each split, and the exploration slice's of train and validation."""
    with connect(settings.warehouse_path) as con:
        last = con.execute("SELECT max(ts) FROM searches").fetchall()[0][0]
        if last is None:
            raise ValueError("the warehouse has no searches")
        end = midnight_after(last)
        searches = con.sql(SEARCHES_SQL, params=[end, end, end, config.weeks, False]).pl()
        explored = con.sql(SEARCHES_SQL, params=[end, end, end, config.exploration_weeks, True]).pl()
    sampling = LogSampling(
        key=SEARCH_ID, caps={"train": config.max_train_searches, "validation": config.max_train_searches // 5,
                             "test": config.max_test_searches},
        max_explored=config.max_explored_searches, min_explored=config.min_explored_searches,
        validation_cutoffs=config.validation_weeks, test_cutoffs=config.test_weeks, horizon=LABEL_WINDOW,
        seed=config.seed)
    return logged_splits(searches, explored, sampling, "search_ranker")


@dataclass(frozen=True)
class SearchPairs:
    """(search, item) rows with their features, for any of the sampled searches: the results
    shoppers were shown, or the candidates FAISS retrieves for the query."""

    settings: Settings
    index: ItemIndex
    titles: pl.DataFrame
    query_vectors: dict[int, np.ndarray]     # every sampled search's query embedding

    def shown(self, searches: pl.DataFrame) -> pl.DataFrame:
        """What the engine showed, ``position`` as shown, ``clicked``, ``purchased`` and ``LABEL``."""
        with connect(self.settings.warehouse_path) as con:
            con.register("wanted", searches.select(SEARCH_ID).to_arrow())
            shown = con.sql(f"""SELECT i.search_id, i.item_id AS {names.ITEM_ID}, i.position, i.clicked, i.purchased,
                                       CASE WHEN i.purchased THEN 2 WHEN i.clicked THEN 1 ELSE 0 END AS {LABEL}
                                FROM search_impressions i JOIN wanted USING (search_id)""").pl()
        return self._featured(searches.join(shown, on=SEARCH_ID))

    def retrieved(self, searches: pl.DataFrame, k: int) -> pl.DataFrame:
        """The k nearest items to each query, ``position`` in retrieval order."""
        row_of, queries = self._queries
        ids, _ = self.index.search(queries[[row_of[s] for s in searches[SEARCH_ID]]], k)
        per_search = ids.shape[1]
        return self._featured(searches.select(pl.all().repeat_by(per_search).explode()).with_columns(
            pl.Series(names.ITEM_ID, ids.reshape(-1)),
            pl.Series("position", np.tile(np.arange(1, per_search + 1), searches.height)),
        ).filter(pl.col(names.ITEM_ID) >= 0))

    @cached_property
    def _queries(self) -> tuple[dict[int, int], np.ndarray]:
        """Each search's row in one matrix of every query vector, stacked once."""
        return ({search: i for i, search in enumerate(self.query_vectors)},
                np.stack(list(self.query_vectors.values())))

    def _featured(self, pairs: pl.DataFrame) -> pl.DataFrame:
        """Cosine, lexical overlap and the item's Feast features as of the search."""
        row_of, queries = self._queries
        item_vectors = self.index.vectors(pairs[names.ITEM_ID].to_numpy())
        rows = np.array([row_of[s] for s in pairs[SEARCH_ID]])
        pairs = pairs.with_columns(pl.Series("cosine", np.einsum("ij,ij->i", queries[rows], item_vectors)))
        featured = point_in_time_dataset(pairs, names.SEARCH_V1, self.settings)
        featured = query_item_features(featured.join(self.titles, on=names.ITEM_ID, how="left"))
        return featured.sort(SEARCH_ID, "position")


def chosen_item_stats(item_features: str) -> list[str]:
    """The item_stats features named by ``item_features`` (as ``SearchRankerConfig.item_features``,
    "auto" aside); a name item_stats lacks is refused."""
    stats = names.FEATURES[names.ITEM_STATS][1]
    chosen = list(stats) if item_features == "all" else [f for f in item_features.split(",") if f]
    unknown = set(chosen) - set(stats)
    if unknown:
        raise ValueError(f"item_features: {sorted(unknown)} are not item_stats features")
    return chosen


def item_feature_choices(item_features: str) -> tuple[str, ...]:
    """The item_features settings to train: both "" and "all" for "auto", else the one given."""
    choices = ("", "all") if item_features == "auto" else (item_features,)
    for choice in choices:
        chosen_item_stats(choice)                    # a misspelt name fails before any work
    return choices


def feature_layout(item_features: str, train: pl.DataFrame) -> FeatureLayout:
    """The ranker's inputs: the query-item features, and the Feast item features chosen by
    ``item_features`` (``all`` adds the base price, category and subcategory)."""
    every = item_features == "all"
    return FeatureLayout(
        numeric=(*QUERY_ITEM_FEATURES, *(f"item_stats__{f}" for f in chosen_item_stats(item_features)),
                 *(("item_content__base_price",) if every else ())),
        categorical={c: tuple(sorted(train[c].drop_nulls().unique().to_list()))
                     for c in (CATEGORICAL if every else ())})


def variant(learning: str, item_features: str) -> str:
    """A trained ranker's name among the variants: its learner and its item features."""
    return f"{learning}, {'item features: ' + item_features if item_features else 'no item features'}"


Query = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUERY_CHARS)]


class SearchRequest(Request):
    query: Query
    k: K = 10
    user_id: Id | None = None            # accepted for logging; ranking is not personalised yet


class SearchResponse(BaseModel):
    query: str
    personalised: bool
    items: list[ItemResult]              # best first; score = the reranker's score


class SearchAnswers:
    def __init__(self, models: dict[str, SavedModel], online: OnlineReader):
        index, ranker = models[INDEX_MODEL], models["search_ranker"]
        built_by = index.metadata.get("text_encoder")
        if built_by != ENCODER:
            raise NotReady(f"the item index was encoded by {built_by or 'an unrecorded text encoder'}, queries "
                           f"are encoded by {ENCODER}: run `shopml index build`")
        self.online, self.index = online, ItemIndex.load(index.folder)
        self.ranker = boosters_in(ranker.folder, ranker.metadata)[ranker.metadata["primary_head"]]
        self.ranker_tag, self.layout = ranker.tag, FeatureLayout.from_metadata(ranker.metadata)
        self.candidates = int(ranker.metadata["config"]["candidates"])
        self.tie_break = ranker.metadata["config"].get("tie_break") or None    # chosen on validation searches
        self.text_encoder = TextEncoder.load(workers=1)
        self.text_encoder.encode_one("warm up")           # the first call pays for lazy initialisation

    def answer(self, request: SearchRequest) -> SearchResponse:
        vector = self.text_encoder.encode_one(request.query)
        ids, cosines = self.index.search(vector, max(request.k, self.candidates))
        keep = ids[0] >= 0
        ids, cosines = ids[0][keep], cosines[0][keep]
        features = pl.DataFrame(self.online.read(names.SEARCH_V1, {names.ITEM_ID: ids.tolist()}), strict=False,
                                infer_schema_length=None).with_columns(
            pl.lit(request.query).alias("query"), pl.Series("cosine", cosines, dtype=pl.Float64),
            pl.Series("title", [self.index.title(i) for i in ids], dtype=pl.String))
        scores = self.ranker.predict(self.layout.array(query_item_features(features)), num_threads=1)
        best = ranking(scores, None if self.tie_break is None else features[self.tie_break].to_numpy())[:request.k]
        return SearchResponse(query=request.query, personalised=False, items=[
            ItemResult(item_id=int(ids[i]), title=self.index.title(ids[i]), score=round(float(scores[i]), 6))
            for i in best])


class SearchRankerTask:
    name = "search_ranker"
    question = "Which items answer this search query best?"
    family = "ranking"
    entity = "item"
    evaluation = ranking_kind(QUALITY, model="embedding + reranker", reference="embedding")
    endpoint = Endpoint(
        path="/search", request=SearchRequest, response=SearchResponse, models=(INDEX_MODEL, "search_ranker"),
        start=SearchAnswers, example=lambda shop: {"query": shop.query, "k": 5},
        doc="The k items that best answer `query`, best first (`user_id` is not used for ranking yet).")
    feature_service = names.SEARCH_V1
    config_type = SearchRankerConfig

    def build_dataset(self, config: SearchRankerConfig, settings: Settings) -> SearchData:
        feature_choices = item_feature_choices(config.item_features)
        learners(config.learning)
        folder, _ = artifact_folder(f"{INDEX_MODEL}:latest", settings)
        searches, explored = _searches(settings, config)
        if not explored and config.learning not in ("auto", "shown"):
            raise ValueError(f"learning={config.learning!r} needs the engine's exploration traffic, and the "
                             "warehouse has no explored search")
        everything = pl.concat([*searches.values(), *explored.values()]).unique(SEARCH_ID)
        log.info("encoding %d queries", everything.height)
        vectors, _ = cached_vectors(settings, everything["query"].to_list())     # each distinct query once
        with connect(settings.warehouse_path) as con:
            titles = con.sql(f"SELECT item_id AS {names.ITEM_ID}, title FROM items").pl()
        pairs = SearchPairs(settings, ItemIndex.load(folder), titles, dict(zip(everything[SEARCH_ID].to_list(), vectors)))
        judged = {"validation": searches["validation"].head(config.max_test_searches), "test": searches["test"]}
        candidates = {name: pairs.retrieved(frame, config.candidates) for name, frame in judged.items()}
        shown = {name: pairs.shown(searches[name]) for name in ("train", "validation")}
        slots = int(shown["train"]["position"].max())
        explored_rows = {name: exposure_labels(pairs.shown(frame), slots) for name, frame in explored.items()}
        examination = (examination_curve(explored_rows["train"], slots) if explored_rows
                       else np.ones(slots))
        logs = RankingLogs(query=SEARCH_ID, label=LABEL, shown=shown, explored=explored_rows,
                           gains=label_gains(examination))
        return SearchData(logs=logs, test=candidates["test"],
                          layouts={f: feature_layout(f, shown["train"]) for f in feature_choices},
                          candidates=candidates,
                          grades={name: true_grades(settings, frame) for name, frame in judged.items()},
                          popular={name: _most_bought(settings, frame[names.EVENT_TIMESTAMP].min())
                                   for name, frame in judged.items()},
                          examination=examination, pairs=pairs)

    def train(self, config: SearchRankerConfig, data: SearchData) -> dict[str, lgb.Booster]:
        """One ranker per variant: each learner (without exploration traffic, ``shown`` only) with
        each item_features choice."""
        chosen = learners(config.learning) if data.logs.explored else ("shown",)
        confounded = {f: tuple(c for c in layout.columns if c not in QUERY_ITEM_FEATURES)
                      for f, layout in data.layouts.items()}
        return {variant(learning, f): fit_learner(learning, config, layout, data.logs, confounded[f])
                for f, layout in data.layouts.items() for learning in chosen
                if confounded[f] or learning != "shown+explored"}

    def choose(self, config: SearchRankerConfig, model: dict[str, lgb.Booster], data: SearchData,
               settings: Settings) -> SearchRankerConfig:
        """The variant (learner and item features) and the tie-break, by NDCG@10 of the reranked
        validation candidates; the first of equals wins (retrieval order before any tie-break)."""
        for name, (learning, item_features) in _variants(model, config, data).items():
            data.choices[name] = tie_break_on_validation(config, model[name], data.layouts[item_features], data)
        best, tie_break = max(((name, key) for name, by_key in data.choices.items() for key in by_key
                               if config.tie_break in ("auto", key)),
                              key=lambda pair: data.choices[pair[0]][pair[1]])
        learning, item_features = _variants(model, config, data)[best]
        log.info("validation NDCG@10 by variant (best tie-break): %s; chosen %r, tie-break %r",
                 {name: round(max(v.values()), 4) for name, v in data.choices.items()}, best, tie_break)
        return replace(config, learning=learning, item_features=item_features, tie_break=tie_break)

    def evaluate(self, config: SearchRankerConfig, model: dict[str, lgb.Booster], data: SearchData,
                 settings: Settings) -> Evaluation:
        booster, layout = model[variant(config.learning, config.item_features)], data.layouts[config.item_features]
        table = search_quality(scored(booster, layout, data.candidates["test"]), data.grades["test"],
                               data.popular["test"], config, config.tie_break)
        choices = {name: {"ndcg_at_10": max(by_key.values()), "chosen": float(
            name == variant(config.learning, config.item_features))} for name, by_key in data.choices.items()}
        return Evaluation(heads={}, tables={QUALITY: table, **({CHOICES: choices} if choices else {})})

    def save(self, config: SearchRankerConfig, model: dict[str, lgb.Booster], data: SearchData, metrics: dict,
             settings: Settings) -> str:
        chosen = {HEAD: model[variant(config.learning, config.item_features)]}
        return save_task_model(self, chosen, HEAD, config, data.splits, data.layouts[config.item_features], metrics,
                               settings, metadata={"examination": data.examination.round(4).tolist()})


def _variants(model: dict[str, lgb.Booster], config: SearchRankerConfig, data: SearchData) -> dict[str, tuple[str, str]]:
    """Each trained variant's (learner, item_features)."""
    named = {variant(learning, f): (learning, f) for f in data.layouts for learning in learners(config.learning)}
    return {name: named[name] for name in model}


def scored(booster: lgb.Booster, layout: FeatureLayout, candidates: pl.DataFrame) -> pl.DataFrame:
    """``candidates`` with the ranker's ``score``."""
    return candidates.with_columns(pl.Series("score", booster.predict(layout.matrix(candidates))))


def tie_break_on_validation(config: SearchRankerConfig, booster: lgb.Booster, layout: FeatureLayout,
                            data: SearchData) -> dict[str, float]:
    """NDCG@10 of the reranked validation candidates under each of TIE_BREAK_CANDIDATES, in order
    (``max`` over it keeps the first of equals: retrieval order before any feature)."""
    candidates = scored(booster, layout, data.candidates["validation"])
    return {key: search_quality(candidates, data.grades["validation"], data.popular["validation"], config,
                                key)["embedding + reranker"]["ndcg_at_10"] for key in TIE_BREAK_CANDIDATES}


def search_quality(candidates: pl.DataFrame, grades: pl.DataFrame, popular: np.ndarray, config: SearchRankerConfig,
                   tie_break: str) -> dict[str, dict[str, float]]:
    """NDCG@10 and recall@candidates, averaged over the searches with a relevant item, of (a) the
    most-bought items, (b) the retrieved candidates in retrieval order, (c) the candidates reranked
    by ``score`` with ties ordered by the ``tie_break`` column ("" for retrieval order)."""
    searches = candidates.select(SEARCH_ID).unique()
    tie = (pl.col(tie_break).cast(pl.Float64).fill_nan(None) if tie_break else pl.lit(0.0)).alias("tie")
    reranked = candidates.select(SEARCH_ID, names.ITEM_ID, "position", "score", tie).sort(
        [SEARCH_ID, "score", "tie", "position"], descending=[False, True, True, False], nulls_last=True)
    rankings = {
        "popularity": searches.join(pl.DataFrame({names.ITEM_ID: popular[:config.candidates]}).with_row_index(
            "rank", offset=1), how="cross"),
        "embedding": candidates.select(SEARCH_ID, names.ITEM_ID, pl.col("position").alias("rank")),
        "embedding + reranker": reranked.with_columns(pl.int_range(1, pl.len() + 1).over(SEARCH_ID).alias("rank")),
    }
    table = {}
    for name, ranked in rankings.items():
        quality = ranked_frame_quality(ranked.select(SEARCH_ID, names.ITEM_ID, pl.col("rank").cast(pl.Int64)), grades,
                                       SEARCH_ID, names.ITEM_ID, k=10, depth=config.candidates,
                                       relevant=config.relevant_grade)
        table[name] = {"ndcg_at_10": quality["ndcg"], f"recall_at_{config.candidates}": quality["recall"],
                       "searches": quality["queries"]}
    return table


def true_grades(settings: Settings, searches: pl.DataFrame) -> pl.DataFrame:
    """Every relevant item of each search with its grade, from the simulator's truth."""
    with connect(settings.warehouse_path) as con:
        if not has_truth(con):
            raise ValueError("search quality needs relevance grades: the warehouse has no truth schema")
        con.register("wanted", searches.select(SEARCH_ID).to_arrow())
        return con.sql(f"""SELECT r.search_id, r.item_id AS {names.ITEM_ID}, r.grade
                           FROM truth.search_relevance r JOIN wanted USING (search_id) WHERE r.grade > 0""").pl()


def _most_bought(settings: Settings, as_of) -> np.ndarray:
    with connect(settings.warehouse_path) as con:
        return con.sql("""SELECT item_id FROM events WHERE event_type = 'purchase' AND ts < ?::TIMESTAMPTZ
                          AND ts >= ?::TIMESTAMPTZ - INTERVAL 30 DAY GROUP BY item_id
                          ORDER BY count(*) DESC, item_id""", params=[as_of, as_of]).pl()["item_id"].to_numpy()
