"""Product categorisation: the category and subcategory of a product from its title and
description, with a confidence, and a category the model never saw from its name alone.

Rows are the catalogue's items in launch order: train on the earliest, choose on the next
``validation_share``, test on the latest ``test_share`` (items launched after every training
item). Features: the platform encoder's vector of "title. description" (the item index's cache).

- **Hierarchical heads** (``training.text_classifiers``): one logistic head for the category,
  one for the subcategory; the subcategory is the likeliest of those inside the predicted
  category, so it always lies in it. Confidence = P(category) x P(subcategory | category).
  Items below ``review_threshold`` go to a person; the threshold is the lowest at which the
  validation items above it reach ``target_accuracy`` on their category.
- **Zero-shot**: a category's name (and its subcategories' names) encoded as a text; an item
  scores each name by cosine, centred over the names. Given new names, an item whose best-scoring
  name is new takes it. Judged by holding out each category in turn: its items' recall and the
  precision of the new label among the test items.
- Reference: TF-IDF + logistic regression, flat, per level.

Judged by macro-F1 and accuracy per level on the test items. Served as ``POST /categorize``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Annotated

import numpy as np
import polars as pl
from pydantic import BaseModel, Field

from shopml.model_store import save_artifact
from shopml.serving import Endpoint, Request, SavedModel
from shopml.settings import Settings
from shopml.warehouse.database import connect

from ..embeddings import cached_vectors, item_text
from ..evaluation import Evaluation
from ..kinds import Tabled
from ..metrics.multiclass import accuracy, macro_f1
from ..task import task_labels
from ..text_classifiers import EmbeddingHead, fit_embedding_head, tfidf_baseline, time_splits

log = logging.getLogger(__name__)

NAME = "categorize"
TABLE, ZERO_SHOT = "category of later items", "zero-shot: each category held out in turn"
MODEL, TFIDF, MAJORITY = "model", "TF-IDF + LR", "majority class"
CATEGORY, SUBCATEGORY = "category", "subcategory"
MAX_ITEMS, MAX_TITLE, MAX_DESCRIPTION = 100, 500, 5000
ITEMS_SQL = """SELECT item_id, launch_ts, title, coalesce(description, '') AS description, category, subcategory
               FROM items WHERE category IS NOT NULL AND subcategory IS NOT NULL AND title IS NOT NULL
               ORDER BY launch_ts, item_id"""


def name_text(category: str, subcategories: list[str]) -> str:
    """The text a category's name is encoded from."""
    return f"{category.replace('_', ' ')}: {', '.join(s.replace('_', ' ') for s in subcategories)}"


def centred_similarity(vectors: np.ndarray, names: np.ndarray) -> np.ndarray:
    """Cosine of each item to each name, less the item's mean over the names."""
    similarity = vectors @ names.T
    return similarity - similarity.mean(axis=1, keepdims=True)


@dataclass(frozen=True)
class CategorizeConfig:
    validation_share: float = 0.15
    test_share: float = 0.15
    target_accuracy: float = 0.97      # of the items not sent to review, on validation
    seed: int = 0

    def __post_init__(self):
        if not (0 < self.validation_share < 0.5 and 0 < self.test_share < 0.5):
            raise ValueError("validation_share and test_share must each lie in (0, 0.5)")
        if not 0 < self.target_accuracy <= 1:
            raise ValueError("target_accuracy must lie in (0, 1]")


@dataclass
class CategorizeData:
    splits: dict[str, pl.DataFrame]
    vectors: dict[str, np.ndarray]


@dataclass
class Categoriser:
    """The two heads, the category of each subcategory, and the names' vectors."""

    heads: dict[str, EmbeddingHead]
    parent: dict[str, str]                 # subcategory -> category
    names: list[str]                       # categories, in the order of name_vectors
    name_vectors: np.ndarray
    review_threshold: float = 0.0

    def predict(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(category, subcategory within it, confidence) per row."""
        cat_head, sub_head = self.heads[CATEGORY], self.heads[SUBCATEGORY]
        p_cat, p_sub = cat_head.probabilities(vectors), sub_head.probabilities(vectors)
        best = p_cat.argmax(axis=1)
        category = np.asarray(cat_head.classes, dtype=object)[best]
        inside = np.array([[self.parent[s] == c for s in sub_head.classes] for c in cat_head.classes])[best]
        within = np.where(inside, p_sub, 0.0)
        sub = within.argmax(axis=1)
        confidence = p_cat[np.arange(len(best)), best] * within[np.arange(len(sub)), sub] / within.sum(axis=1).clip(1e-12)
        return category, np.asarray(sub_head.classes, dtype=object)[sub], confidence

    def zero_shot(self, vectors: np.ndarray, new_names: list[str], new_vectors: np.ndarray) -> np.ndarray:
        """Per row, the new name it takes, or None where a known category's name scores best."""
        scores = centred_similarity(vectors, np.vstack([self.name_vectors, new_vectors]))
        best = scores.argmax(axis=1) - len(self.names)
        return np.where(best >= 0, np.asarray(new_names + [None], dtype=object)[np.clip(best, 0, None)], None)

    def save(self, folder) -> None:
        for level, head in self.heads.items():
            head.save(folder / f"{level}.npz")
        np.save(folder / "name_vectors.npy", self.name_vectors)


def _names(frame: pl.DataFrame) -> tuple[list[str], list[str]]:
    """Categories and their name texts, from the training items' labels."""
    subs = frame.group_by(CATEGORY).agg(pl.col(SUBCATEGORY).unique().sort()).sort(CATEGORY)
    return subs[CATEGORY].to_list(), [name_text(c, s) for c, s in subs.iter_rows()]


def _review_threshold(confidence: np.ndarray, correct: np.ndarray, target: float) -> float:
    """The lowest confidence above which the items' accuracy reaches ``target`` (1.0 if none does)."""
    order = np.argsort(-confidence)
    running = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    reaching = np.flatnonzero(running >= target)
    return float(confidence[order][reaching[-1]]) if len(reaching) else 1.0


class CategorizeRequestItem(Request):
    title: Annotated[str, Field(min_length=1, max_length=MAX_TITLE)]
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION)] = ""


class CategorizeRequest(Request):
    items: Annotated[list[CategorizeRequestItem], Field(min_length=1, max_length=MAX_ITEMS)]
    # categories the model never saw: an item whose text is nearer one of these names takes it
    new_categories: Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=50)] = []


class CategorizeResult(BaseModel):
    category: str
    subcategory: str | None               # None for a new category (zero-shot)
    confidence: float
    needs_review: bool                    # below the threshold chosen on validation
    zero_shot: bool                       # a category from new_categories


class CategorizeResponse(BaseModel):
    results: list[CategorizeResult]


class CategorizeAnswers:
    def __init__(self, models: dict[str, SavedModel], online=None):
        from shopml.text_model import TextEncoder

        saved = models[NAME]
        self.encoder = TextEncoder.load(workers=1)
        self.model = Categoriser(
            heads={level: EmbeddingHead.load(saved.folder / f"{level}.npz") for level in (CATEGORY, SUBCATEGORY)},
            parent=saved.metadata["parent"], names=saved.metadata["names"],
            name_vectors=np.load(saved.folder / "name_vectors.npy"), review_threshold=saved.metadata["review_threshold"])

    def answer(self, request: CategorizeRequest) -> CategorizeResponse:
        vectors = self.encoder.encode([item_text(i.title, i.description) for i in request.items])
        category, sub, confidence = self.model.predict(vectors)
        new = [n for n in dict.fromkeys(request.new_categories) if n not in self.model.names]
        taken = (self.model.zero_shot(vectors, new, self.encoder.encode(new)) if new
                 else np.full(len(vectors), None, dtype=object))
        return CategorizeResponse(results=[
            CategorizeResult(category=t or c, subcategory=None if t else s, confidence=round(float(p), 6),
                             needs_review=bool(t is not None or p < self.model.review_threshold), zero_shot=t is not None)
            for c, s, p, t in zip(category, sub, confidence, taken)])


class CategorizeTask:
    name = NAME
    question = "What is a product, from its title and description?"
    family = "text"
    entity = "item"
    feature_service = "items"                    # no feature view: the catalogue's own text
    config_type = CategorizeConfig
    evaluation = Tabled("multiclass", TABLE, model=MODEL, reference=TFIDF, metric="subcategory_macro_f1",
                        label="subcategory macro-F1")
    endpoint = Endpoint(
        path="/categorize", request=CategorizeRequest, response=CategorizeResponse, models=(NAME,),
        start=CategorizeAnswers,
        example=lambda shop: {"items": [{"title": "Voltra wireless black earbuds Pro",
                                         "description": "With a 30-hour battery. Ideal for travel."},
                                        {"title": "Hand-thrown vase", "description": "Glazed ceramic, for fresh flowers."}],
                              "new_categories": ["pottery and vases"]},
        doc="Per item: category, subcategory inside it and a confidence; new_categories are taken zero-shot.")

    def build_dataset(self, config: CategorizeConfig, settings: Settings) -> CategorizeData:
        with connect(settings.warehouse_path) as con:
            items = con.sql(ITEMS_SQL).pl()
        splits = time_splits(items, config.validation_share, config.test_share)
        vectors, encoded = cached_vectors(settings, [item_text(t, d) for t, d in zip(items["title"], items["description"])])
        log.info("categorize: %s items, %d encoded now", {s: f.height for s, f in splits.items()}, encoded)
        bounds = np.cumsum([0] + [f.height for f in splits.values()])
        return CategorizeData(splits=splits, vectors={s: vectors[a:b] for s, a, b in zip(splits, bounds, bounds[1:])})

    def train(self, config: CategorizeConfig, data: CategorizeData) -> Categoriser:
        from shopml.text_model import TextEncoder

        train, valid = data.splits["train"], data.splits["validation"]
        heads = {level: fit_embedding_head(data.vectors["train"], train[level].to_numpy(), data.vectors["validation"],
                                           valid[level].to_numpy(), config.seed) for level in (CATEGORY, SUBCATEGORY)}
        names, texts = _names(train)
        return Categoriser(heads=heads, parent=dict(zip(train[SUBCATEGORY], train[CATEGORY])), names=names,
                           name_vectors=TextEncoder.load().encode(texts))

    def choose(self, config: CategorizeConfig, model: Categoriser, data: CategorizeData, settings: Settings):
        valid = data.splits["validation"]
        category, _, confidence = model.predict(data.vectors["validation"])
        model.review_threshold = _review_threshold(confidence, category == valid[CATEGORY].to_numpy(),
                                                   config.target_accuracy)
        log.info("categorize: review below confidence %.3f", model.review_threshold)
        return config

    def evaluate(self, config: CategorizeConfig, model: Categoriser, data: CategorizeData, settings: Settings) -> Evaluation:
        train, valid, test = (data.splits[s] for s in ("train", "validation", "test"))
        truth = {level: test[level].to_numpy() for level in (CATEGORY, SUBCATEGORY)}
        category, sub, confidence = model.predict(data.vectors["test"])
        confident = confidence >= model.review_threshold
        rows = {MODEL: self._levels(truth, category, sub, model.parent)}
        texts = {s: [item_text(t, d) for t, d in zip(f["title"], f["description"])] for s, f in data.splits.items()}
        flat = {level: tfidf_baseline(texts["train"], train[level].to_numpy(), texts["validation"],
                                      valid[level].to_numpy(), config.seed).predict(texts["test"])
                for level in (CATEGORY, SUBCATEGORY)}
        rows[TFIDF] = self._levels(truth, flat[CATEGORY], flat[SUBCATEGORY], model.parent)
        majority = {level: train[level].mode()[0] for level in truth}
        rows[MAJORITY] = self._levels(truth, np.full(test.height, majority[CATEGORY], dtype=object),
                                      np.full(test.height, majority[SUBCATEGORY], dtype=object), model.parent)
        reviewed = {MODEL: {"review_share": float(1 - confident.mean()),
                            "category_accuracy_not_reviewed": accuracy(truth[CATEGORY][confident], category[confident])
                            if confident.any() else float("nan")}}
        tables = {TABLE: rows, "sent to a person (below the confidence chosen on validation)": reviewed,
                  ZERO_SHOT: self._zero_shot(model, data),
                  "chosen on validation": {MODEL: {"review_threshold": model.review_threshold,
                                                   "category_strength": model.heads[CATEGORY].strength,
                                                   "subcategory_strength": model.heads[SUBCATEGORY].strength,
                                                   "train_items": train.height, "test_items": test.height}}}
        return Evaluation(heads={}, tables=tables)

    @staticmethod
    def _levels(truth: dict, category: np.ndarray, sub: np.ndarray, parent: dict) -> dict[str, float]:
        return {"category_macro_f1": macro_f1(truth[CATEGORY], category), "category_accuracy": accuracy(truth[CATEGORY], category),
                "subcategory_macro_f1": macro_f1(truth[SUBCATEGORY], sub),
                "subcategory_accuracy": accuracy(truth[SUBCATEGORY], sub),
                "subcategory_in_category": float(np.mean([parent.get(s) == c for s, c in zip(sub, category)]))}

    @staticmethod
    def _zero_shot(model: Categoriser, data: CategorizeData) -> dict[str, dict[str, float]]:
        """Each category in turn left out of the known names and given as new at test time."""
        test = data.splits["test"]
        rows = {}
        for i, held_out in enumerate(model.names):
            known = Categoriser(heads=model.heads, parent=model.parent, names=model.names[:i] + model.names[i + 1:],
                                name_vectors=np.delete(model.name_vectors, i, axis=0))
            taken = known.zero_shot(data.vectors["test"], [held_out], model.name_vectors[i:i + 1])
            is_new, is_held = taken == held_out, (test[CATEGORY] == held_out).to_numpy()
            rows[held_out] = {"items": int(is_held.sum()),
                              "recall": float(is_new[is_held].mean()) if is_held.any() else float("nan"),
                              "precision": float(is_held[is_new].mean()) if is_new.any() else float("nan")}
        rows["mean"] = {"items": test.height, **{key: float(np.nanmean([r[key] for r in rows.values()]))
                                                 for key in ("recall", "precision")}}
        return rows

    def save(self, config: CategorizeConfig, model: Categoriser, data: CategorizeData, metrics: dict,
             settings: Settings) -> str:
        metadata = {"config": asdict(config), "metrics": metrics, "parent": model.parent, "names": model.names,
                    "review_threshold": model.review_threshold}
        return save_artifact(self.name, task_labels(self), metadata, settings, model.save)
