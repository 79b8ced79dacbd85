"""Classifiers over text, shared by the text tasks (review sentiment, product categorisation):

- ``EmbeddingHead``: multinomial logistic regression on the platform encoder's unit vectors
  (``shopml.text_model``), its strength chosen on validation. Saved as plain arrays (``npz``,
  never a pickle) and applied with NumPy, so a service needs no scikit-learn model object.
- ``time_splits``: rows in time order, the earliest to train on, the latest to test.
- ``tfidf_baseline``: TF-IDF of words and word pairs with a logistic regression, the usual strong
  baseline for short texts, on the same splits.

scikit-learn does both fits well; nothing here is written by hand but the softmax that serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from .metrics.multiclass import macro_f1

STRENGTHS = (0.3, 1.0, 3.0, 10.0, 30.0)     # inverse regularisation tried on validation
MAX_ITER = 400


def time_splits(frame: pl.DataFrame, validation_share: float, test_share: float) -> dict[str, pl.DataFrame]:
    """Rows already in time order: the earliest train, the next validation, the latest test."""
    n = frame.height
    first_test, first_valid = n - round(n * test_share), n - round(n * (test_share + validation_share))
    if first_valid < 1 or first_test <= first_valid or first_test >= n:
        raise ValueError(f"{n} rows are too few to split into train, validation and test")
    return {"train": frame[:first_valid], "validation": frame[first_valid:first_test], "test": frame[first_test:]}


def in_columns(probabilities: np.ndarray, known: list[str], classes) -> np.ndarray:
    """``probabilities`` (columns in ``known`` order) in the columns of ``classes``; 0 for a class
    the model never saw (a real review set may lack a rating)."""
    out = np.zeros((len(probabilities), len(classes)), dtype=probabilities.dtype)
    for column, name in enumerate(classes):
        if name in known:
            out[:, column] = probabilities[:, known.index(name)]
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


@dataclass
class EmbeddingHead:
    """P(class | text) = softmax(vector @ weights.T + bias); ``classes`` in column order."""

    classes: list[str]
    weights: np.ndarray          # (classes, dimension)
    bias: np.ndarray             # (classes,)
    strength: float              # the inverse regularisation chosen on validation

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        return softmax(vectors @ self.weights.T + self.bias)

    def predict(self, vectors: np.ndarray) -> np.ndarray:
        return np.asarray(self.classes, dtype=object)[self.probabilities(vectors).argmax(axis=1)]

    def probabilities_for(self, vectors: np.ndarray, classes) -> np.ndarray:
        return in_columns(self.probabilities(vectors), self.classes, classes)

    def save(self, path: Path) -> None:
        np.savez(path, classes=np.asarray(self.classes), weights=self.weights, bias=self.bias,
                 strength=np.asarray(self.strength))

    @classmethod
    def load(cls, path: Path) -> EmbeddingHead:
        with np.load(path, allow_pickle=False) as saved:
            return cls(classes=[str(c) for c in saved["classes"]], weights=saved["weights"], bias=saved["bias"],
                       strength=float(saved["strength"]))


def _logistic(strength: float, seed: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=strength, max_iter=MAX_ITER, random_state=seed)


def fit_embedding_head(train_x: np.ndarray, train_y: np.ndarray, valid_x: np.ndarray, valid_y: np.ndarray,
                       seed: int = 0, strengths: tuple[float, ...] = STRENGTHS) -> EmbeddingHead:
    """The logistic head whose strength gives the best macro-F1 on validation."""
    best, best_f1 = None, -1.0
    for strength in strengths:
        model = _logistic(strength, seed).fit(train_x, train_y)
        f1 = macro_f1(valid_y, model.predict(valid_x))
        if f1 > best_f1:
            best, best_f1 = (model, strength), f1
    model, strength = best
    return EmbeddingHead(classes=[str(c) for c in model.classes_], weights=model.coef_.astype(np.float32),
                         bias=model.intercept_.astype(np.float32), strength=strength)


@dataclass
class TfidfBaseline:
    pipeline: object             # sklearn: TfidfVectorizer -> LogisticRegression
    strength: float

    def probabilities(self, texts: list[str]) -> np.ndarray:
        return self.pipeline.predict_proba(texts)

    def probabilities_for(self, texts: list[str], classes) -> np.ndarray:
        return in_columns(self.probabilities(texts), self.classes, classes)

    def predict(self, texts: list[str]) -> np.ndarray:
        return self.pipeline.predict(texts)

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.pipeline.classes_]


def tfidf_baseline(train_texts: list[str], train_y: np.ndarray, valid_texts: list[str], valid_y: np.ndarray,
                   seed: int = 0) -> TfidfBaseline:
    """TF-IDF (words and pairs, sublinear counts) + logistic regression, strength chosen on validation."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    best, best_f1 = None, -1.0
    for strength in STRENGTHS:
        pipeline = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
                                 _logistic(strength, seed)).fit(train_texts, train_y)
        f1 = macro_f1(valid_y, pipeline.predict(valid_texts))
        if f1 > best_f1:
            best, best_f1 = TfidfBaseline(pipeline, strength), f1
    return best
