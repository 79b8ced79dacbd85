"""Price prediction's pieces: new items are split by launch, an item's text neighbours come from
the training items only and never include itself, and the error figures by hand."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest

from feature_repo.definitions import names
from training.tasks.price_prediction import (EMBEDDING, KNN, PricePredictionConfig, launch_splits, neighbour_prices,
                                             price_errors)


def items(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return pl.DataFrame({names.ITEM_ID: np.arange(n) + 1,
                         names.EVENT_TIMESTAMP: [start + timedelta(days=int(d)) for d in rng.permutation(n)],
                         "log_price": rng.normal(3, 1, n), EMBEDDING: vectors.astype(np.float32).tolist()})


def test_new_items_are_split_by_launch():
    splits = launch_splits(items(100), PricePredictionConfig(validation_share=0.2, test_share=0.1))
    assert [f.height for f in splits.values()] == [70, 20, 10]
    assert splits["train"][names.EVENT_TIMESTAMP].max() < splits["validation"][names.EVENT_TIMESTAMP].min()
    assert splits["validation"][names.EVENT_TIMESTAMP].max() < splits["test"][names.EVENT_TIMESTAMP].min()


def test_neighbours_are_training_items_and_never_the_item_itself():
    splits = launch_splits(items(60), PricePredictionConfig())
    found = neighbour_prices(splits, k=3)
    train = splits["train"]
    vectors = np.array(train[EMBEDDING].to_list())
    prices = train["log_price"].to_numpy()
    for name in ("train", "test"):
        frame = found[name]
        queries = np.array(frame[EMBEDDING].to_list())
        similarity = queries @ vectors.T
        if name == "train":
            np.fill_diagonal(similarity, -np.inf)
        nearest = np.argsort(-similarity, axis=1)[:, :3]
        np.testing.assert_allclose(frame[KNN[0]].to_numpy(), np.median(prices[nearest], axis=1), rtol=1e-6)
        np.testing.assert_allclose(frame[KNN[2]].to_numpy(), np.take_along_axis(similarity, nearest[:, :1], 1)[:, 0],
                                   rtol=1e-5)


def test_price_errors_by_hand():
    errors = price_errors(np.array([10.0, 20.0, 40.0]), np.array([11.0, 20.0, 30.0]))
    assert errors["mae"] == pytest.approx(11 / 3) and errors["mape"] == pytest.approx((0.1 + 0 + 0.25) / 3)
    assert errors["median_ape"] == pytest.approx(0.1) and errors["within_10_percent"] == pytest.approx(2 / 3)
