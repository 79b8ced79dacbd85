"""Search ranking: FAISS retrieves the 100 items nearest a query's embedding, a LightGBM
``lambdarank`` model reorders them.

Training rows are what shoppers were shown (the simulated search impressions of the earlier
weeks), labelled 2 when bought, 1 when clicked, else 0; the shown position is handed to
LightGBM's unbiased lambdarank (``Dataset(position=...)``), which learns the position bias next
to the ranking so the model ranks by relevance, not by where the old engine put an item.
Features: embedding cosine and lexical overlap (``shopml.search``) and, when ``item_features``
names them, the item's features from Feast (``search_v1``) as of the search's time. They are off
by default: learned from logs of an engine that showed the most appealing items, they rank worse
on validation searches (``python -m bench.search_labels``; docs/decisions/search-labels.md).

The ranker's score is coarse (a few distinct values among a search's candidates); candidates it
scores alike are ordered by one Feast item feature, the ``tie_break`` chosen on the validation
searches' candidates (``choose``).

Evaluation is on later searches, against the simulator's relevance grades (``truth``): NDCG@10
and recall@100 (items of grade >= ``relevant_grade``) for (a) the most-bought items of the last
30 days, (b) embedding retrieval alone, (c) retrieval + reranker. Recall@100 of (b) and (c) is
the same candidate set. Every choice reads the validation searches only; the test searches are
read once, by ``evaluate``.

Served as ``POST /search``: the query is encoded by the shipped text model, FAISS retrieves the
candidates and the ranker reorders them on the items' online Feast features.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
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

from ..boosting import BoostingConfig, lgb_params, save_task_model
from ..datasets import point_in_time_dataset
from ..evaluation import Evaluation
from ..item_index import INDEX_MODEL
from ..kinds import ranking as ranking_kind
from ..labels import CUTOFF, WEEK_START_SQL, midnight_after, split_by_time
from ..metrics import ndcg_at_k, recall_at_k

log = logging.getLogger(__name__)

HEAD, LABEL, SEARCH_ID = "rank", "grade_label", "search_id"
CATEGORICAL = ("item_content__category", "item_content__subcategory")
LABEL_WINDOW = timedelta(hours=1)    # a search's clicks and purchase come within its session (under 30 min)
QUALITY = "search quality on later searches"


@dataclass(frozen=True)
class SearchRankerConfig(BoostingConfig):
    weeks: int = 8                    # weeks of searches, the latest whole ones
    validation_weeks: int = 1         # for early stopping (NDCG@10 of the shown results)
    test_weeks: int = 1               # held out, the latest
    max_train_searches: int = 20_000  # sampled from the training weeks (encoding queries costs time)
    max_test_searches: int = 2_000
    candidates: int = 100             # retrieved by FAISS, then reranked
    relevant_grade: int = 2           # recall counts items of at least this grade
    # Feast item features in the ranker: "all" (item_stats, base price, category, subcategory),
    # "" (none), or a comma-separated list of item_stats features. Off by default: learned from
    # logs of an engine that showed the most appealing items, they lower validation NDCG@10
    # (bench.search_labels); turn them on for logs with exploration traffic.
    item_features: str = ""
    debias_position: bool = True      # hand the shown position to LightGBM's unbiased lambdarank
    min_data_in_leaf: int = 50
    # The item_stats column that orders candidates the ranker scores alike (larger first), "" for
    # retrieval order; "auto": the best of TIE_BREAK_CANDIDATES by NDCG@10 on the validation
    # searches' candidates (never the test's).
    tie_break: str = "auto"


@dataclass
class SearchData:
    splits: dict[str, pl.DataFrame]      # train/validation: shown results; test: retrieved candidates
    layout: FeatureLayout
    candidates: dict[str, pl.DataFrame]  # validation and test searches: the retrieved candidates
    grades: dict[str, pl.DataFrame]      # validation and test searches: every relevant item with its grade
    popular: dict[str, np.ndarray]       # item ids, most bought first, as of the first validation / test week
    pairs: SearchPairs                   # builds more rows of the sampled searches (bench.search_labels)


SEARCHES_SQL = f"""
SELECT search_id, ts AS {names.EVENT_TIMESTAMP}, left(query, {MAX_QUERY_CHARS}) AS query,
       {WEEK_START_SQL.format(ts="ts")} AS {CUTOFF}
FROM searches WHERE ts >= ?::TIMESTAMPTZ - to_days(7 * ?) ORDER BY search_id
"""


def _searches(settings: Settings, config: SearchRankerConfig) -> dict[str, pl.DataFrame]:
    with connect(settings.warehouse_path) as con:
        last = con.execute("SELECT max(ts) FROM searches").fetchall()[0][0]
        if last is None:
            raise ValueError("the warehouse has no searches")
        end = midnight_after(last)
        searches = con.sql(SEARCHES_SQL, params=[end, end, end, config.weeks]).pl()
    splits = split_by_time(searches, config.validation_weeks, config.test_weeks, horizon=LABEL_WINDOW)
    caps = {"train": config.max_train_searches, "validation": config.max_train_searches // 5,
            "test": config.max_test_searches}
    return {name: frame.sample(min(frame.height, caps[name]), seed=config.seed).sort(SEARCH_ID)
            for name, frame in splits.items()}


@dataclass(frozen=True)
class SearchPairs:
    """(search, item) rows with their features, for any of the sampled searches: the results
    shoppers were shown, or the candidates FAISS retrieves for the query."""

    settings: Settings
    index: ItemIndex
    titles: pl.DataFrame
    query_vectors: dict[int, np.ndarray]     # every sampled search's query embedding

    def shown(self, searches: pl.DataFrame) -> pl.DataFrame:
        """What the old engine showed, ``position`` as shown and the logged ``LABEL``."""
        with connect(self.settings.warehouse_path) as con:
            con.register("wanted", searches.select(SEARCH_ID).to_arrow())
            shown = con.sql(f"""SELECT i.search_id, i.item_id AS {names.ITEM_ID}, i.position,
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
    """The item_stats features named by ``item_features`` (as ``SearchRankerConfig.item_features``);
    a name item_stats lacks is refused."""
    stats = names.FEATURES[names.ITEM_STATS][1]
    chosen = list(stats) if item_features == "all" else [f for f in item_features.split(",") if f]
    unknown = set(chosen) - set(stats)
    if unknown:
        raise ValueError(f"item_features: {sorted(unknown)} are not item_stats features")
    return chosen


def feature_layout(item_features: str, train: pl.DataFrame) -> FeatureLayout:
    """The ranker's inputs: the query-item features, and the Feast item features chosen by
    ``item_features`` (``all`` adds the base price, category and subcategory)."""
    every = item_features == "all"
    return FeatureLayout(
        numeric=(*QUERY_ITEM_FEATURES, *(f"item_stats__{f}" for f in chosen_item_stats(item_features)),
                 *(("item_content__base_price",) if every else ())),
        categorical={c: tuple(sorted(train[c].drop_nulls().unique().to_list()))
                     for c in (CATEGORICAL if every else ())})


def _groups(frame: pl.DataFrame) -> np.ndarray:
    return frame.group_by(SEARCH_ID, maintain_order=True).len()["len"].to_numpy()


def fit_ranker(config: SearchRankerConfig, layout: FeatureLayout, train: pl.DataFrame, valid: pl.DataFrame,
               label: str = LABEL, position: bool = False, label_gain: list[float] | None = None) -> lgb.Booster:
    """A lambdarank booster on (search, item) rows sorted by search, early-stopped on NDCG@10 of
    ``valid``; ``position`` hands the shown position to LightGBM's unbiased lambdarank,
    ``label_gain`` replaces the default gain of each label value."""
    params = lgb_params(config, objective="lambdarank", metric="ndcg", eval_at=[10],
                        **({"label_gain": label_gain} if label_gain else {}))
    shown_at = {"position": train["position"].to_numpy() - 1} if position else {}
    train_set = lgb.Dataset(layout.matrix(train), train[label].to_numpy(), group=_groups(train), **shown_at)
    valid_set = lgb.Dataset(layout.matrix(valid), valid[label].to_numpy(), group=_groups(valid), reference=train_set)
    return lgb.train(params, train_set, num_boost_round=config.max_rounds, valid_sets=[valid_set],
                     callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)])


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
        chosen_item_stats(config.item_features)          # a misspelt name fails before any work
        folder, _ = artifact_folder(f"{INDEX_MODEL}:latest", settings)
        searches = _searches(settings, config)
        everything = pl.concat(searches.values())
        log.info("encoding %d queries", everything.height)
        vectors = TextEncoder.load().encode(everything["query"].to_list())
        with connect(settings.warehouse_path) as con:
            titles = con.sql(f"SELECT item_id AS {names.ITEM_ID}, title FROM items").pl()
        query_vectors = dict(zip(everything[SEARCH_ID].to_list(), vectors))
        pairs = SearchPairs(settings, ItemIndex.load(folder), titles, query_vectors)
        judged = {"validation": searches["validation"].head(config.max_test_searches), "test": searches["test"]}
        candidates = {name: pairs.retrieved(frame, config.candidates) for name, frame in judged.items()}
        splits = {"train": pairs.shown(searches["train"]), "validation": pairs.shown(searches["validation"]),
                  "test": candidates["test"]}
        return SearchData(splits=splits, layout=feature_layout(config.item_features, splits["train"]),
                          candidates=candidates,
                          grades={name: true_grades(settings, frame) for name, frame in judged.items()},
                          popular={name: _most_bought(settings, frame[names.EVENT_TIMESTAMP].min())
                                   for name, frame in judged.items()},
                          pairs=pairs)

    def train(self, config: SearchRankerConfig, data: SearchData) -> dict[str, lgb.Booster]:
        return {HEAD: fit_ranker(config, data.layout, data.splits["train"], data.splits["validation"],
                                 position=config.debias_position)}

    def choose(self, config: SearchRankerConfig, model: dict[str, lgb.Booster], data: SearchData,
               settings: Settings) -> SearchRankerConfig:
        """The tie-break, when left to ``auto``: see ``tie_break_on_validation``."""
        if config.tie_break != "auto":
            return config
        ndcg = tie_break_on_validation(config, model, data)
        chosen = max(ndcg, key=ndcg.get)
        log.info("tie-break on validation searches (NDCG@10): %s; chosen %r",
                 {k or "retrieval order": round(v, 4) for k, v in ndcg.items()}, chosen)
        return replace(config, tie_break=chosen)

    def evaluate(self, config: SearchRankerConfig, model: dict[str, lgb.Booster], data: SearchData,
                 settings: Settings) -> Evaluation:
        table = search_quality(scored(model, data, "test"), data.grades["test"], data.popular["test"], config,
                               config.tie_break)
        return Evaluation(heads={}, tables={QUALITY: table})

    def save(self, config: SearchRankerConfig, model: dict[str, lgb.Booster], data: SearchData, metrics: dict,
             settings: Settings) -> str:
        return save_task_model(self, model, HEAD, config, data.splits, data.layout, metrics, settings)


def scored(model: dict[str, lgb.Booster], data: SearchData, split: str) -> pl.DataFrame:
    """The split's retrieved candidates with the ranker's ``score``."""
    candidates = data.candidates[split]
    return candidates.with_columns(pl.Series("score", model[HEAD].predict(data.layout.matrix(candidates))))


def tie_break_on_validation(config: SearchRankerConfig, model: dict[str, lgb.Booster],
                            data: SearchData) -> dict[str, float]:
    """NDCG@10 of the reranked validation candidates under each of TIE_BREAK_CANDIDATES, in order
    (``max`` over it keeps the first of equals: retrieval order before any feature)."""
    candidates = scored(model, data, "validation")
    return {key: search_quality(candidates, data.grades["validation"], data.popular["validation"], config,
                                key)["embedding + reranker"]["ndcg_at_10"] for key in TIE_BREAK_CANDIDATES}


def search_quality(candidates: pl.DataFrame, grades: pl.DataFrame, popular: np.ndarray, config: SearchRankerConfig,
                   tie_break: str) -> dict[str, dict[str, float]]:
    """NDCG@10 and recall@candidates, averaged over the searches with a relevant item, of (a) the
    most-bought items, (b) the retrieved candidates in retrieval order, (c) the candidates reranked
    by ``score`` with ties ordered by the ``tie_break`` column ("" for retrieval order)."""
    grade_of = {(s, i): g for s, i, g in grades.iter_rows()}
    all_grades = dict(grades.group_by(SEARCH_ID).agg(pl.col("grade")).iter_rows())
    systems = {"popularity": [], "embedding": [], "embedding + reranker": []}
    recalls = {name: [] for name in systems}
    for (search,), part in candidates.group_by(SEARCH_ID, maintain_order=True):
        relevant = all_grades.get(search, [])
        if not relevant:
            continue
        total = sum(g >= config.relevant_grade for g in relevant)
        rankings = {"popularity": popular[:config.candidates],
                    "embedding": part.sort("position")[names.ITEM_ID].to_numpy(),
                    "embedding + reranker": part[names.ITEM_ID].to_numpy()[
                        ranking(part["score"].to_numpy(), part[tie_break].to_numpy() if tie_break else None)]}
        for name, ranked in rankings.items():
            ranked_grades = [grade_of.get((search, int(i)), 0) for i in ranked]
            systems[name].append(ndcg_at_k(ranked_grades, relevant, 10))
            recalls[name].append(recall_at_k([g >= config.relevant_grade for g in ranked_grades], total,
                                             config.candidates))
    return {name: {"ndcg_at_10": float(np.nanmean(systems[name])),
                   f"recall_at_{config.candidates}": float(np.nanmean(recalls[name])),
                   "searches": float(len(systems[name]))} for name in systems}


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
