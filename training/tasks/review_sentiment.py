"""Review sentiment: is a review negative, neutral or positive, and what rating does it give?

Rows are the warehouse's reviews in time order: train on the earliest, choose on the next
``validation_share``, test on the latest ``test_share`` (later reviews). The class is the star
rating's (1-2 negative, 3 neutral, 4-5 positive); on the simulated shop the rating is a fixed
function of the buyer's true satisfaction (``truth.reviews``), so the class is the truth's.

Two models, chosen on validation macro-F1 (``training.text_classifiers``, ``training.finetune``):
a logistic head on the platform encoder's embeddings (fast), and the encoder fine-tuned with
PyTorch on the latest ``finetune_reviews`` training reviews (slower, usually better). Each has a
second head for the 1-5 rating; the rating estimate is its expected value. References: TF-IDF +
logistic regression, and the majority class. On the simulated shop the test is also cut by what
makes a review hard (sarcasm, mixed aspects, no overall opening).

Served as ``POST /sentiment``: up to 100 texts, each at most 5,000 characters.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import polars as pl
from pydantic import BaseModel, Field

from shopml.model_store import save_artifact
from shopml.serving import Endpoint, Request, SavedModel
from shopml.settings import Settings
from shopml.warehouse.database import connect, has_truth

from ..embeddings import cached_vectors
from ..evaluation import Evaluation
from ..finetune import FineTuneConfig, QuantisedClassifier, fine_tune
from ..kinds import Tabled
from ..metrics.multiclass import accuracy, macro_f1, multiclass_log_loss
from ..task import task_labels
from ..text_classifiers import EmbeddingHead, fit_embedding_head, tfidf_baseline, time_splits

log = logging.getLogger(__name__)

NAME = "review_sentiment"
CLASSES = ("negative", "neutral", "positive")
RATINGS = ("1", "2", "3", "4", "5")
SENTIMENT, RATING = "sentiment", "rating"
TABLE = "sentiment of later reviews"
MODEL, HEAD, FINE_TUNED, TFIDF, MAJORITY = "model", "embedding head", "fine-tuned encoder", "TF-IDF + LR", "majority class"
MAX_TEXTS, MAX_CHARACTERS = 100, 5000

REVIEWS_SQL = """SELECT review_id, item_id, ts, rating, text FROM reviews
                 WHERE text IS NOT NULL AND trim(text) <> '' AND rating BETWEEN 1 AND 5 ORDER BY ts, review_id"""
# what makes a simulated review hard, per review (the truth's aspects and sarcasm)
HARDNESS_SQL = """
SELECT r.review_id, t.sarcastic,
       count(DISTINCT a.polarity) FILTER (WHERE a.polarity <> 'neutral') = 2 AS mixed
FROM reviews r JOIN truth.reviews t USING (review_id) LEFT JOIN truth.review_aspects a USING (review_id)
GROUP BY ALL"""


def sentiment_class(rating) -> np.ndarray:
    """negative (1-2 stars), neutral (3), positive (4-5)."""
    rating = np.asarray(rating)
    return np.asarray(CLASSES, dtype=object)[np.where(rating <= 2, 0, np.where(rating == 3, 1, 2))]


@dataclass(frozen=True)
class ReviewSentimentConfig:
    validation_share: float = 0.15     # the reviews after the training ones
    test_share: float = 0.15           # the latest reviews
    finetune_reviews: int = 5000       # latest training reviews the fine-tune sees; 0: the head only
    finetune_epochs: int = 1
    seed: int = 0

    def __post_init__(self):
        if not (0 < self.validation_share < 0.5 and 0 < self.test_share < 0.5):
            raise ValueError("validation_share and test_share must each lie in (0, 0.5)")
        if self.finetune_reviews < 0 or self.finetune_epochs < 1:
            raise ValueError("finetune_reviews must be >= 0 and finetune_epochs >= 1")


@dataclass
class SentimentData:
    splits: dict[str, pl.DataFrame]       # review_id, ts, rating, text, class, and the text's vector
    vectors: dict[str, np.ndarray]
    hardness: pl.DataFrame | None         # simulated shop: review_id, sarcastic, mixed, opening


@dataclass
class SentimentModels:
    head: dict[str, EmbeddingHead]        # SENTIMENT, RATING
    fine_tuned: QuantisedClassifier | None       # exported: int8 ONNX, as it is served
    fine_tuned_folder: Path | None
    finetune_seconds: float
    chosen: str = HEAD


def _rating_estimate(probabilities: np.ndarray) -> np.ndarray:
    return probabilities @ np.arange(1, len(RATINGS) + 1, dtype=np.float64)


def _figures(truth: np.ndarray, ratings: np.ndarray, predicted: np.ndarray, probabilities: np.ndarray,
             rating_probabilities: np.ndarray | None) -> dict[str, float]:
    index = {c: i for i, c in enumerate(CLASSES)}
    return {"accuracy": accuracy(truth, predicted), "macro_f1": macro_f1(truth, predicted),
            "log_loss": multiclass_log_loss([index[c] for c in truth], probabilities),
            "rating_mae": float(np.mean(np.abs(_rating_estimate(rating_probabilities) - ratings)))
            if rating_probabilities is not None else float("nan")}


Text = Annotated[str, Field(min_length=1, max_length=MAX_CHARACTERS)]


class SentimentRequest(Request):
    texts: Annotated[list[Text], Field(min_length=1, max_length=MAX_TEXTS)]


class SentimentResult(BaseModel):
    label: str                            # negative, neutral or positive
    probabilities: dict[str, float]
    rating: float                         # the expected 1-5 rating


class SentimentResponse(BaseModel):
    model: str                            # "embedding head" or "fine-tuned encoder"
    results: list[SentimentResult]


class HeadScorer:
    """The embedding heads on the platform encoder: (class, rating) probabilities in CLASSES and
    RATINGS order."""

    def __init__(self, folder, workers: int | None = None):
        from shopml.text_model import TextEncoder

        self.encoder = TextEncoder.load(workers=workers)
        self.heads = {head: EmbeddingHead.load(folder / f"{head}.npz") for head in (SENTIMENT, RATING)}

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        vectors = self.encoder.encode(texts)
        return (self.heads[SENTIMENT].probabilities_for(vectors, CLASSES),
                self.heads[RATING].probabilities_for(vectors, RATINGS))


class FineTunedScorer:
    """The fine-tuned encoder, exported to int8 ONNX (its heads are in CLASSES and RATINGS order)."""

    def __init__(self, folder):
        self.model = QuantisedClassifier(folder, workers=1)

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        probabilities = self.model.probabilities(texts)
        return probabilities[SENTIMENT], probabilities[RATING]


class SentimentAnswers:
    def __init__(self, models: dict[str, SavedModel], online=None):
        saved = models[NAME]
        self.chosen = saved.metadata["chosen"]
        self.score = FineTunedScorer(saved.folder) if self.chosen == FINE_TUNED else HeadScorer(saved.folder, workers=1)

    def answer(self, request: SentimentRequest) -> SentimentResponse:
        sentiment, rating = self.score(request.texts)
        return SentimentResponse(model=self.chosen, results=[
            SentimentResult(label=CLASSES[int(p.argmax())], probabilities={c: round(float(v), 6) for c, v in zip(CLASSES, p)},
                            rating=round(float(_rating_estimate(r[None, :])[0]), 4))
            for p, r in zip(sentiment, rating)])


class ReviewSentimentTask:
    name = NAME
    question = "Is a review negative, neutral or positive, and what rating does it give?"
    family = "text"
    entity = "item"
    feature_service = "reviews"                  # no feature view: the reviews' own text
    config_type = ReviewSentimentConfig
    evaluation = Tabled("multiclass", TABLE, model=MODEL, reference=TFIDF, metric="macro_f1", label="macro-F1")

    def build_dataset(self, config: ReviewSentimentConfig, settings: Settings) -> SentimentData:
        with connect(settings.warehouse_path) as con:
            reviews = con.sql(REVIEWS_SQL).pl()
            hardness = con.sql(HARDNESS_SQL).pl() if has_truth(con) else None
        reviews = reviews.with_columns(pl.Series("class", sentiment_class(reviews["rating"].to_numpy()), dtype=pl.String))
        splits = time_splits(reviews, config.validation_share, config.test_share)
        started = time.perf_counter()
        vectors, encoded = cached_vectors(settings, reviews["text"].to_list())
        log.info("review_sentiment: %s reviews; %d encoded now in %.0f s", {s: f.height for s, f in splits.items()},
                 encoded, time.perf_counter() - started)
        bounds = np.cumsum([0] + [f.height for f in splits.values()])
        return SentimentData(splits=splits, vectors={s: vectors[a:b] for s, a, b in zip(splits, bounds, bounds[1:])},
                             hardness=hardness)

    def train(self, config: ReviewSentimentConfig, data: SentimentData) -> SentimentModels:
        train, valid = data.splits["train"], data.splits["validation"]
        head = {SENTIMENT: fit_embedding_head(data.vectors["train"], train["class"].to_numpy(),
                                              data.vectors["validation"], valid["class"].to_numpy(), config.seed),
                RATING: fit_embedding_head(data.vectors["train"], train["rating"].cast(pl.String).to_numpy(),
                                           data.vectors["validation"], valid["rating"].cast(pl.String).to_numpy(),
                                           config.seed)}
        if config.finetune_reviews == 0:
            return SentimentModels(head=head, fine_tuned=None, fine_tuned_folder=None, finetune_seconds=0.0)
        latest = train[-config.finetune_reviews:]
        started = time.perf_counter()
        tuned = fine_tune(latest["text"].to_list(),
                          {SENTIMENT: np.searchsorted(CLASSES, latest["class"].to_numpy()),
                           RATING: latest["rating"].to_numpy() - 1},
                          {SENTIMENT: list(CLASSES), RATING: list(RATINGS)},
                          FineTuneConfig(epochs=config.finetune_epochs, seed=config.seed),
                          on_progress=lambda done, total: log.info("fine-tune: %d of %d reviews", done, total))
        seconds = time.perf_counter() - started
        folder = Path(tempfile.mkdtemp(prefix="shopml-finetune-"))       # what is judged is what is saved and served
        tuned.export(folder)
        return SentimentModels(head=head, fine_tuned=QuantisedClassifier(folder), fine_tuned_folder=folder,
                               finetune_seconds=seconds)

    def _scores(self, models: SentimentModels, data: SentimentData, split: str) -> dict[str, tuple]:
        """Per model: (predicted class, class probabilities, rating probabilities) on ``split``."""
        vectors, texts = data.vectors[split], data.splits[split]["text"].to_list()
        classes = np.asarray(CLASSES, dtype=object)
        p = models.head[SENTIMENT].probabilities_for(vectors, CLASSES)
        r = models.head[RATING].probabilities_for(vectors, RATINGS)
        out = {HEAD: (classes[p.argmax(1)], p, r)}
        if models.fine_tuned is not None:
            tuned = models.fine_tuned.probabilities(texts)
            out[FINE_TUNED] = (classes[tuned[SENTIMENT].argmax(1)], tuned[SENTIMENT], tuned[RATING])
        return out

    def choose(self, config: ReviewSentimentConfig, models: SentimentModels, data: SentimentData,
               settings: Settings) -> ReviewSentimentConfig:
        truth = data.splits["validation"]["class"].to_numpy()
        f1 = {name: macro_f1(truth, predicted) for name, (predicted, _, _) in self._scores(models, data, "validation").items()}
        models.chosen = max(f1, key=f1.get)
        log.info("review_sentiment: validation macro-F1 %s; chose the %s", {k: round(v, 4) for k, v in f1.items()},
                 models.chosen)
        return config

    def evaluate(self, config: ReviewSentimentConfig, models: SentimentModels, data: SentimentData,
                 settings: Settings) -> Evaluation:
        train, valid, test = data.splits["train"], data.splits["validation"], data.splits["test"]
        truth, ratings = test["class"].to_numpy(), test["rating"].to_numpy()
        scores = self._scores(models, data, "test")
        baseline = tfidf_baseline(train["text"].to_list(), train["class"].to_numpy(), valid["text"].to_list(),
                                  valid["class"].to_numpy(), config.seed)
        tfidf_p = baseline.probabilities_for(test["text"].to_list(), CLASSES)
        majority = train["class"].mode()[0]
        majority_p = np.tile((np.asarray(CLASSES) == majority).astype(float), (len(truth), 1))
        rows = {MODEL: _figures(truth, ratings, *scores[models.chosen])}
        rows |= {name: _figures(truth, ratings, *s) for name, s in scores.items()}
        rows[TFIDF] = _figures(truth, ratings, np.asarray(CLASSES, dtype=object)[tfidf_p.argmax(1)], tfidf_p, None)
        rows[MAJORITY] = _figures(truth, ratings, np.full(len(truth), majority, dtype=object), majority_p, None)
        tables = {TABLE: rows, "chosen on validation": {MODEL: {
            "model": models.chosen, "head_strength": models.head[SENTIMENT].strength,
            "finetune_reviews": min(config.finetune_reviews, train.height), "finetune_seconds": round(models.finetune_seconds, 1),
            "train_reviews": train.height, "validation_reviews": valid.height, "test_reviews": test.height}}}
        if data.hardness is not None:
            tables["by kind of review (simulated truth)"] = self._by_hardness(test, data.hardness, {
                MODEL: scores[models.chosen][0], TFIDF: np.asarray(CLASSES, dtype=object)[tfidf_p.argmax(1)]})
        return Evaluation(heads={}, tables=tables)

    @staticmethod
    def _by_hardness(test: pl.DataFrame, hardness: pl.DataFrame, predicted: dict[str, np.ndarray]) -> dict:
        kinds = test.join(hardness, on="review_id", how="left", maintain_order="left")
        from shopml.warehouse.simulator.vocabulary import REVIEW_OPENINGS
        openings = tuple(o for phrases in REVIEW_OPENINGS.values() for o in phrases)
        opened = np.array([t.startswith(openings) for t in kinds["text"].to_list()])
        masks = {"sarcastic": kinds["sarcastic"].fill_null(False).to_numpy(),
                 "mixed aspects": kinds["mixed"].fill_null(False).to_numpy(),
                 "no overall opening": ~opened & ~kinds["sarcastic"].fill_null(False).to_numpy(),
                 "all": np.ones(kinds.height, dtype=bool)}
        truth = kinds["class"].to_numpy()
        return {f"{name}: {kind}": {"reviews": int(mask.sum()), "accuracy": accuracy(truth[mask], p[mask]),
                                    "macro_f1": macro_f1(truth[mask], p[mask])}
                for kind, mask in masks.items() for name, p in predicted.items() if mask.any()}

    def save(self, config: ReviewSentimentConfig, models: SentimentModels, data: SentimentData, metrics: dict,
             settings: Settings) -> str:
        def write(folder):
            for head, model in models.head.items():
                model.save(folder / f"{head}.npz")
            if models.chosen == FINE_TUNED:
                for exported in models.fine_tuned_folder.iterdir():
                    shutil.copy2(exported, folder / exported.name)
            if models.fine_tuned_folder is not None:
                shutil.rmtree(models.fine_tuned_folder, ignore_errors=True)

        metadata = {"config": asdict(config), "metrics": metrics, "chosen": models.chosen, "classes": list(CLASSES)}
        return save_artifact(self.name, task_labels(self), metadata, settings, write)
    endpoint = Endpoint(
        path="/sentiment", request=SentimentRequest, response=SentimentResponse, models=(NAME,), start=SentimentAnswers,
        example=lambda shop: {"texts": ["Fits perfectly, but it broke within a week.", "Super fast delivery, great value."]},
        doc="Per text: negative, neutral or positive with probabilities, and the expected 1-5 rating.")
