"""Feedback analysis: what customers' reviews (and the searches that found nothing) are about,
how each aspect of each item and category is judged, and which items are getting worse.

Reviews in time order are split as the sentiment task splits them (``review_sentiment``); their
sentences are encoded by the platform encoder and grouped into topics (``training.feedback``:
k-means, k chosen by validation silhouette in ``k_range``, keywords by c-TF-IDF, each topic named
by its nearest aspect). A sentence's sentiment is the review-sentiment head's P(positive) -
P(negative) on the sentence's vector, so ``shopml train review_sentiment`` must run first.

- Topics are judged on the simulated shop by their purity against the aspects the truth records
  for every sentence (``truth.review_aspects``; an opening sentence is "overall"), next to
  k-means on TF-IDF vectors with the same k; a sentence's sentiment against its aspect's truth.
- Alerts: items whose share of negative reviews (the sentiment model's) in the last
  ``window_days`` rose against their own past beyond chance (one-sided Fisher exact test,
  Benjamini-Hochberg at ``alert_fdr``), judged against the items whose quality truly fell
  (``truth.items.defect_ts``), next to the same test on star ratings and a plain threshold.

Writes the ``item_review_sentiment`` feature view (weekly, from the reviews of the 90 days
before) and the feedback report (``shopml report feedback`` rewrites it from the saved model).
"""

from __future__ import annotations

import html
import logging
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl

from feature_repo.definitions import names
from shopml.model_store import ModelMissingError, artifact_folder, save_artifact
from shopml.settings import Settings
from shopml.warehouse.database import connect, has_truth

from ..embeddings import cached_vectors, write_atomically
from ..evaluation import Evaluation
from ..feedback import ASPECTS, Topics, fit_topics, purity, review_sentences, rising_negative_share
from ..kinds import Tabled
from ..report import line_chart, table_section, write_report
from ..task import task_labels
from ..text_classifiers import EmbeddingHead, time_splits
from .review_sentiment import CLASSES, NAME as SENTIMENT_MODEL, REVIEWS_SQL, SENTIMENT

log = logging.getLogger(__name__)

NAME = "feedback"
PURITY, ALERTS = "topic purity against recorded aspects", "alerts: rising negative share"
MODEL, TFIDF_KMEANS = "model", "TF-IDF k-means"
RATINGS_TEST, THRESHOLD = "same test on star ratings", "recent negative share >= 0.5"
SAMPLE = 20_000                 # sentences k-means is fitted on, at most
VALID_SAMPLE = 3_000            # validation sentences the silhouette is computed on, at most

FAILED_SEARCHES_SQL = """
SELECT s.query FROM searches s
WHERE s.ts >= ? AND NOT EXISTS (SELECT 1 FROM search_impressions i WHERE i.search_id = s.search_id AND i.clicked)
ORDER BY s.ts, s.search_id"""
DEFECTS_SQL = "SELECT item_id, defect_ts, quality FROM truth.items"


@dataclass(frozen=True)
class FeedbackConfig:
    validation_share: float = 0.15
    test_share: float = 0.15
    k_range: tuple[int, int] = (4, 10)
    window_days: int = 42              # alerts: the recent window, against all before it
    min_reviews: int = 3               # alerts: an item needs this many reviews before and in the window
    alert_fdr: float = 0.1
    seed: int = 0

    def __post_init__(self):
        if not 2 <= self.k_range[0] <= self.k_range[1]:
            raise ValueError(f"k_range must be (low, high) with 2 <= low <= high, got {self.k_range}")
        if self.window_days < 1 or self.min_reviews < 1 or not 0 < self.alert_fdr < 1:
            raise ValueError("window_days and min_reviews must be >= 1 and alert_fdr in (0, 1)")


@dataclass
class FeedbackData:
    reviews: pl.DataFrame              # review_id, item_id, ts, rating, text, split, score, negative
    sentences: pl.DataFrame            # review_id, item_id, ts, position, sentence, split, score (+ aspect truth)
    sentence_vectors: np.ndarray
    aspect_vectors: np.ndarray
    failed_queries: list[str]
    failed_vectors: np.ndarray
    defects: pl.DataFrame | None       # simulated shop: item_id, defect_ts, quality
    categories: pl.DataFrame           # item_id, category


@dataclass
class FeedbackModel:
    topics: Topics
    silhouettes: dict[int, float]
    search_topics: Topics | None


def sentiment_head(settings: Settings) -> EmbeddingHead:
    try:
        folder, _ = artifact_folder(f"{SENTIMENT_MODEL}:latest", settings)
    except ModelMissingError:
        raise ValueError(f"no {SENTIMENT_MODEL} model: run `shopml train {SENTIMENT_MODEL}` first") from None
    return EmbeddingHead.load(folder / f"{SENTIMENT}.npz")


def sentence_scores(head: EmbeddingHead, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P(positive) - P(negative), whether negative is the likeliest class) per vector."""
    p = head.probabilities_for(vectors, CLASSES)
    return p[:, -1] - p[:, 0], p.argmax(axis=1) == 0


def analysed_reviews(settings: Settings, config: FeedbackConfig) -> tuple[pl.DataFrame, pl.DataFrame, np.ndarray]:
    """Reviews and their sentences with split, sentiment score and negative flag; the sentences' vectors."""
    with connect(settings.warehouse_path) as con:
        reviews = con.sql(REVIEWS_SQL).pl()
    splits = time_splits(reviews, config.validation_share, config.test_share)
    reviews = pl.concat([frame.with_columns(pl.lit(split).alias("split")) for split, frame in splits.items()])
    head = sentiment_head(settings)
    review_vectors, _ = cached_vectors(settings, reviews["text"].to_list())
    score, negative = sentence_scores(head, review_vectors)
    reviews = reviews.with_columns(pl.Series("score", score), pl.Series("negative", negative))
    sentences = review_sentences(reviews).join(reviews.select("review_id", "split"), on="review_id", maintain_order="left")
    vectors, encoded = cached_vectors(settings, sentences["sentence"].to_list())
    log.info("feedback: %d reviews, %d sentences (%d encoded now)", reviews.height, sentences.height, encoded)
    sentences = sentences.with_columns(pl.Series("score", sentence_scores(head, vectors)[0]))
    return reviews, sentences, vectors


def _label_sentences(sentences: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """Each sentence's recorded aspect: the review's aspect sentences are its last ones, in order;
    an earlier (opening) sentence is "overall". A review whose sentences do not line up is left unlabelled."""
    counts = sentences.group_by("review_id").agg(pl.len().alias("sentences"))
    aspects = truth.group_by("review_id").agg(pl.len().alias("aspects"))
    aligned = counts.join(aspects, on="review_id").filter(
        (pl.col("sentences") - pl.col("aspects")).is_in([0, 1])).with_columns(
        (pl.col("sentences") - pl.col("aspects")).alias("offset"))
    out = sentences.join(aligned.select("review_id", "offset"), on="review_id", how="left", maintain_order="left")
    out = out.with_columns((pl.col("position") - pl.col("offset")).alias("aspect_position"))
    out = out.join(truth.select("review_id", pl.col("position").alias("aspect_position"), "aspect",
                                pl.col("sentiment").alias("true_sentiment")),
                   on=["review_id", "aspect_position"], how="left", maintain_order="left")
    return out.with_columns(pl.when(pl.col("offset").is_not_null() & (pl.col("aspect_position") < 1))
                            .then(pl.lit("overall")).otherwise(pl.col("aspect")).alias("aspect")).drop("offset", "aspect_position")


def _sample(n: int, size: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False)) if n > size else np.arange(n)


class FeedbackTask:
    name = NAME
    question = "What is customers' feedback about, and which items are getting worse?"
    family = "text"
    entity = "item"
    feature_service = names.REVIEW_V1
    config_type = FeedbackConfig
    needs = (SENTIMENT_MODEL,)             # reads the reviews' sentiment with its model
    evaluation = Tabled("clustering", PURITY, model=MODEL, reference=TFIDF_KMEANS, metric="purity",
                        label="topic purity")

    def build_dataset(self, config: FeedbackConfig, settings: Settings) -> FeedbackData:
        from shopml.text_model import TextEncoder

        reviews, sentences, vectors = analysed_reviews(settings, config)
        window_start = reviews["ts"].max() - timedelta(days=config.window_days)
        with connect(settings.warehouse_path) as con:
            truth = has_truth(con)
            if truth:
                sentences = _label_sentences(sentences, con.sql("SELECT review_id, position, aspect, sentiment "
                                                                "FROM truth.review_aspects").pl())
            defects = con.sql(DEFECTS_SQL).pl() if truth else None
            failed = [q for (q,) in con.execute(FAILED_SEARCHES_SQL, [window_start]).fetchall()]
            categories = con.sql("SELECT item_id, category FROM items").pl()
        failed_vectors, _ = cached_vectors(settings, failed) if failed else (np.zeros((0, vectors.shape[1]), np.float32), 0)
        return FeedbackData(reviews=reviews, sentences=sentences, sentence_vectors=vectors,
                            aspect_vectors=TextEncoder.load().encode(list(ASPECTS.values())),
                            failed_queries=failed, failed_vectors=failed_vectors, defects=defects, categories=categories)

    def train(self, config: FeedbackConfig, data: FeedbackData) -> FeedbackModel:
        split = data.sentences["split"].to_numpy()
        train, valid = np.flatnonzero(split == "train"), np.flatnonzero(split == "validation")
        train = train[_sample(len(train), SAMPLE, config.seed)]
        valid = valid[_sample(len(valid), VALID_SAMPLE, config.seed)]
        texts = data.sentences["sentence"].to_list()
        topics, silhouettes = fit_topics(data.sentence_vectors[train], data.sentence_vectors[valid],
                                         [texts[i] for i in train], config.k_range, data.aspect_vectors, config.seed)
        search_topics = None
        if len(data.failed_queries) >= 4 * config.k_range[0]:
            order = _sample(len(data.failed_queries), SAMPLE, config.seed)
            half = len(order) // 2
            search_topics, _ = fit_topics(data.failed_vectors[order[:half]], data.failed_vectors[order[half:]],
                                          [data.failed_queries[i] for i in order[:half]], config.k_range,
                                          data.aspect_vectors, config.seed)
        log.info("feedback: %d topics (silhouette %s)", len(topics.keywords), {k: round(v, 3) for k, v in silhouettes.items()})
        return FeedbackModel(topics=topics, silhouettes=silhouettes, search_topics=search_topics)

    def evaluate(self, config: FeedbackConfig, model: FeedbackModel, data: FeedbackData, settings: Settings) -> Evaluation:
        topics = model.topics
        test = np.flatnonzero(data.sentences["split"].to_numpy() == "test")
        assigned = topics.assign(data.sentence_vectors[test])
        counts = np.bincount(assigned, minlength=len(topics.keywords))
        tables = {"topics of later reviews": {
            f"topic {t}": {"aspect": topics.aspect[t], "share": float(counts[t] / max(len(test), 1)),
                           "keywords": ", ".join(topics.keywords[t])} for t in range(len(topics.keywords))}}
        if "aspect" in data.sentences.columns:
            tables[PURITY] = self._purity(model, data, test, assigned, config)
            labelled = data.sentences[test].filter(pl.col("true_sentiment").is_not_null())
            tables["sentence sentiment against the aspects' truth"] = {MODEL: {
                "sentences": labelled.height,
                "correlation": float(np.corrcoef(labelled["score"], labelled["true_sentiment"])[0, 1]),
                "sign_agreement": float(((labelled["score"] > 0) == (labelled["true_sentiment"] > 0)).mean())}}
        if data.defects is not None:
            tables[ALERTS] = self._alerts(config, data)
        if model.search_topics is not None:
            tables["searches that found nothing: topics"] = {
                f"topic {t}": {"keywords": ", ".join(words)} for t, words in enumerate(model.search_topics.keywords)}
        tables["chosen on validation"] = {MODEL: {"k": len(topics.keywords), **{f"silhouette_k{k}": v for k, v in model.silhouettes.items()}}}
        return Evaluation(heads={}, tables=tables)

    @staticmethod
    def _purity(model: FeedbackModel, data: FeedbackData, test: np.ndarray, assigned: np.ndarray,
                config: FeedbackConfig) -> dict:
        from sklearn.cluster import KMeans
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.metrics import normalized_mutual_info_score

        truth = data.sentences["aspect"].to_numpy()[test]
        known = np.array([a is not None for a in truth])
        texts = [data.sentences["sentence"][int(i)] for i in test]
        tfidf = TfidfVectorizer(min_df=2).fit_transform(texts)
        lexical = KMeans(n_clusters=len(model.topics.keywords), n_init=3, random_state=config.seed).fit_predict(tfidf)
        named = np.asarray(model.topics.aspect, dtype=object)[assigned]
        return {MODEL: {"sentences": int(known.sum()), "purity": purity(assigned[known], truth[known]),
                        "nmi": float(normalized_mutual_info_score(truth[known], assigned[known])),
                        "aspect_name_accuracy": float(np.mean(named[known] == truth[known]))},
                TFIDF_KMEANS: {"sentences": int(known.sum()), "purity": purity(lexical[known], truth[known]),
                               "nmi": float(normalized_mutual_info_score(truth[known], lexical[known])),
                               "aspect_name_accuracy": float("nan")}}

    @staticmethod
    def _alerts(config: FeedbackConfig, data: FeedbackData) -> dict:
        end = data.reviews["ts"].max()
        window_start = end - timedelta(days=config.window_days)
        defective = set(data.defects.filter(pl.col("defect_ts") < end)["item_id"].to_list())
        low = set(data.defects.filter(pl.col("quality") < -1.0)["item_id"].to_list())
        by_text = rising_negative_share(data.reviews, window_start, config.min_reviews, config.alert_fdr)
        by_rating = rising_negative_share(data.reviews.with_columns((pl.col("rating") <= 2).alias("negative")),
                                          window_start, config.min_reviews, config.alert_fdr)

        def judged(items: list[int], tested: pl.DataFrame) -> dict[str, float]:
            hits = sum(i in defective for i in items)
            reachable = sum(i in defective for i in tested["item_id"].to_list())
            return {"items_tested": tested.height, "alerts": len(items),
                    "precision": hits / len(items) if items else float("nan"),
                    "recall_of_defective_tested": hits / reachable if reachable else float("nan"),
                    "share_truly_low_quality": sum(i in low for i in items) / len(items) if items else float("nan")}
        return {MODEL: judged(by_text.filter("alert")["item_id"].to_list(), by_text),
                RATINGS_TEST: judged(by_rating.filter("alert")["item_id"].to_list(), by_rating),
                THRESHOLD: judged(by_text.filter(pl.col("recent_negative_share") >= 0.5)["item_id"].to_list(), by_text)}

    def save(self, config: FeedbackConfig, model: FeedbackModel, data: FeedbackData, metrics: dict,
             settings: Settings) -> str:
        def write(folder: Path):
            np.save(folder / "topic_centroids.npy", model.topics.centroids)

        metadata = {"config": {**asdict(config), "k_range": list(config.k_range)}, "metrics": metrics,
                    "keywords": model.topics.keywords, "aspects": model.topics.aspect,
                    "search_keywords": model.search_topics.keywords if model.search_topics else []}
        tag = save_artifact(self.name, task_labels(self), metadata, settings, write)
        write_review_features(data, model.topics, settings)
        feedback_report(settings, config, model.topics, data)
        return tag


def write_review_features(data: FeedbackData, topics: Topics, settings: Settings) -> pl.DataFrame:
    """The ``item_review_sentiment`` view: per item and week, from the reviews of the 90 days
    before the week starts: how many, the negative share, the mean sentiment, and per aspect
    the mean sentiment of its sentences (null where none)."""
    import duckdb

    sentences = data.sentences.select("review_id", "item_id", "ts", "score").with_columns(
        pl.Series("aspect", np.asarray(topics.aspect, dtype=object)[topics.assign(data.sentence_vectors)], dtype=pl.String))
    reviews = data.reviews.select("item_id", "ts", "score", "negative")
    aspects = ", ".join(f"avg(s.score) FILTER (WHERE s.aspect = '{a}') AS {a}_sentiment_90d" for a in ASPECTS)
    table = duckdb.sql(f"""
        WITH weeks AS (SELECT unnest(generate_series(date_trunc('week', min(ts)) + INTERVAL 7 DAY,
                                                     date_trunc('week', max(ts)) + INTERVAL 7 DAY, INTERVAL 7 DAY)) AS week
                       FROM reviews),
        per_review AS (
            SELECT r.item_id, w.week, count(*) AS reviews_90d, avg(r.negative::INT) AS negative_share_90d,
                   avg(r.score) AS sentiment_90d
            FROM weeks w JOIN reviews r ON r.ts < w.week AND r.ts >= w.week - INTERVAL 90 DAY GROUP BY ALL),
        per_aspect AS (
            SELECT s.item_id, w.week, {aspects}
            FROM weeks w JOIN sentences s ON s.ts < w.week AND s.ts >= w.week - INTERVAL 90 DAY GROUP BY ALL)
        SELECT p.item_id AS {names.ITEM_ID}, p.week AS {names.EVENT_TIMESTAMP}, p.reviews_90d,
               p.negative_share_90d, p.sentiment_90d, {', '.join(f'a.{a}_sentiment_90d' for a in ASPECTS)}
        FROM per_review p JOIN per_aspect a USING (item_id, week) ORDER BY 2, 1""").pl()
    table = table.with_columns(pl.col(names.EVENT_TIMESTAMP).dt.replace_time_zone("UTC"),
                               pl.col("reviews_90d").cast(pl.Int64), *(pl.col(c).cast(pl.Float64) for c in names.REVIEW_FEATURES[1:]))
    write_atomically(table, settings.features_dir / f"{names.ITEM_REVIEW_SENTIMENT}.parquet")
    log.info("feedback: %d weekly item rows written to the %s view", table.height, names.ITEM_REVIEW_SENTIMENT)
    return table


def feedback_report(settings: Settings, config: FeedbackConfig, topics: Topics, data: FeedbackData) -> Path:
    """The feedback report: topics with keywords and example sentences, the weekly negative share
    per category, each aspect's sentiment per category, and the alert list."""
    assigned = topics.assign(data.sentence_vectors)
    sentences = data.sentences.with_columns(pl.Series("topic", assigned))
    examples = (sentences.unique(["topic", "sentence"], maintain_order=True)
                .group_by("topic", maintain_order=True).head(3).group_by("topic").agg(pl.col("sentence")).sort("topic"))
    rows = {f"topic {t}": {"aspect": topics.aspect[t], "sentences": int((assigned == t).sum()),
                           "keywords": ", ".join(topics.keywords[t]), "examples": " | ".join(s)}
            for t, s in examples.iter_rows()}
    reviews = data.reviews.join(data.categories, on="item_id", how="left")
    weekly = (reviews.with_columns(pl.col("ts").dt.truncate("1w").alias("week"))
              .group_by("category", "week").agg(pl.col("negative").mean().alias("negative_share"), pl.len().alias("n"))
              .filter(pl.col("n") >= 5).sort("week"))
    first, last = weekly["week"].min(), weekly["week"].max()
    span = max((last - first).total_seconds(), 1.0)
    series = {c: (np.array([(w - first).total_seconds() / span for w in f["week"]]), f["negative_share"].to_numpy())
              for c, f in weekly.partition_by("category", as_dict=True, include_key=True).items()
              for c in [c[0] if isinstance(c, tuple) else c]}
    chart = line_chart("weekly share of negative reviews per category", series,
                       f"week ({first:%Y-%m-%d} to {last:%Y-%m-%d})", "negative share", y_max=0.6, palette=True)
    by_category = (sentences.join(data.categories, on="item_id", how="left")
                   .with_columns(pl.Series("aspect", np.asarray(topics.aspect, dtype=object)[assigned], dtype=pl.String))
                   .group_by("category", "aspect").agg(pl.col("score").mean()).sort("category")
                   .pivot(on="aspect", index="category", values="score"))
    aspect_rows = {row["category"]: {a: row.get(a) if row.get(a) is not None else float("nan") for a in ASPECTS}
                   for row in by_category.iter_rows(named=True)}
    window_start = data.reviews["ts"].max() - timedelta(days=config.window_days)
    alerts = rising_negative_share(data.reviews, window_start, config.min_reviews, config.alert_fdr).filter("alert")
    alerts = alerts.join(data.categories, on="item_id", how="left").sort("p_value")
    alert_rows = {f"item {r['item_id']}": {"category": r["category"], "past_negative_share": r["past_negative_share"],
                                           "recent_negative_share": r["recent_negative_share"], "p_value": r["p_value"]}
                  for r in alerts.iter_rows(named=True)} or {"(none)": {"category": "", "p_value": float("nan")}}
    sections = (table_section("topics", rows) + f"<div class='charts'>{chart}</div>"
                + table_section("mean sentiment of each aspect, per category (-1 to 1)", aspect_rows)
                + table_section(f"alerts: negative share of the last {config.window_days} days above the item's past "
                                f"(Fisher exact, BH at {config.alert_fdr})", alert_rows)
                + f"<p>{html.escape(str(data.reviews.height))} reviews, {sentences.height} sentences.</p>")
    return write_report(settings.reports_dir / "feedback", "feedback report", "latest", names.ITEM_REVIEW_SENTIMENT,
                        sections, file_name="feedback.html")


def rewrite_feedback_report(settings: Settings) -> Path:
    """The feedback report of the latest ``feedback`` model over the warehouse as it is now."""
    try:
        folder, metadata = artifact_folder(f"{NAME}:latest", settings)
    except ModelMissingError:
        raise ValueError(f"no {NAME} model: run `shopml train {NAME}` first") from None
    saved = metadata["config"]
    config = FeedbackConfig(**{**saved, "k_range": tuple(saved["k_range"])})
    topics = Topics(centroids=np.load(folder / "topic_centroids.npy"), keywords=metadata["keywords"],
                    aspect=metadata["aspects"])
    return feedback_report(settings, config, topics, FeedbackTask().build_dataset(config, settings))
