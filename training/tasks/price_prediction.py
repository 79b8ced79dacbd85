"""Price prediction: the price an item should list at, for a new item and, a week ahead, for a
listed one.

- **New items.** Rows are the catalogue's items in launch order: train on the earliest, validate
  on the next ``validation_share``, test on the latest ``test_share`` (items launched after every
  training item). The label is the item's list price at launch (``items.base_price``); features
  are what ``price_v1`` knows at launch: category, subcategory and brand (``item_content``,
  never its own base price) and, from its text embedding (``item_embedding``), the prices of its
  nearest training items in a FAISS inner-product index (the median and the similarity-weighted
  mean of the ``neighbours`` nearest, and how near the nearest is). LightGBM with an L1 loss on
  the log price. References: the category's median training price, and the neighbours' median.
- **Listed items, a week ahead.** Rows are (item on sale, weekly cut-off T); the label is its
  list price on day T + 7, the features ``price_v1`` as of T (``item_demand``'s price against
  base, its change, promotions; ``item_stats``' current price). Purged weekly splits
  (``training.labels``). LightGBM with an L1 loss on the log of the price a week later over the
  current price. References: the last price, and the category's median.

Judged by MAE, MAPE, the median absolute percentage error and the share within 10%, on the test
items and weeks. Not served: its figures feed the demand page; the models are in the store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta

import lightgbm as lgb
import numpy as np
import polars as pl

from feature_repo.definitions import names
from shopml.matrix import FeatureLayout
from shopml.model_store import save_boosters
from shopml.settings import Settings
from shopml.warehouse.database import connect

from ..boosting import BoostingConfig, lgb_params
from ..datasets import point_in_time_dataset
from ..embeddings import vector_matrix
from ..evaluation import Evaluation
from ..kinds import Tabled
from ..labels import CUTOFF, LabelSpec, cutoff_schedule
from ..task import task_labels

log = logging.getLogger(__name__)

NEW, NEXT = "new items: list price at launch", "listed items: list price a week later"
MODEL, CATEGORY_MEDIAN, NEIGHBOURS, LAST_PRICE = "model", "category median", "neighbours' median", "last price"
EMBEDDING = f"{names.ITEM_EMBEDDING}__{names.EMBEDDING}"
CATEGORY = f"{names.ITEM_CONTENT}__{names.CATEGORY}"
CURRENT = f"{names.ITEM_STATS}__current_price"
# computed from the item embedding's nearest training items; named like a view's columns, which is
# what a model's feature layout takes (``shopml.matrix``)
KNN = tuple(f"text_neighbours__{f}" for f in ("median_log_price", "weighted_log_price", "top_similarity"))
NEW_FEATURES = (CATEGORY, f"{names.ITEM_CONTENT}__subcategory", f"{names.ITEM_CONTENT}__brand", *KNN)
NEXT_FEATURES = (CATEGORY, CURRENT, *(f"{names.ITEM_DEMAND}__{f}" for f in (
    "price_vs_base", "price_change_vs_28d_avg", "on_promo", "promo_days_7d", "units_7d", "units_28d")),
                 f"{names.ITEM_STATS}__days_since_launch")
NO_CATEGORY = "(none)"
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class PricePredictionConfig(BoostingConfig):
    validation_share: float = 0.15    # new items: the share launched after the training items
    test_share: float = 0.15          # new items: the latest launched
    neighbours: int = 10              # nearest training items by text whose prices are features
    train_weeks: int = 12             # listed items: weekly cut-offs to train on, the latest the purge allows
    validation_weeks: int = 2
    test_weeks: int = 2
    min_data_in_leaf: int = 20

    def __post_init__(self):
        if not (0 < self.validation_share < 0.5 and 0 < self.test_share < 0.5):
            raise ValueError("validation_share and test_share must each lie in (0, 0.5)")
        if self.neighbours < 1:
            raise ValueError(f"neighbours must be at least 1, got {self.neighbours}")


@dataclass
class PriceData:
    new: dict[str, pl.DataFrame]      # split -> items: features, log_price
    next: dict[str, pl.DataFrame]     # split -> (item, cut-off): features, log_ratio, current and next price
    layouts: dict[str, FeatureLayout]


def launch_splits(items: pl.DataFrame, config: PricePredictionConfig) -> dict[str, pl.DataFrame]:
    """Items in launch order: train the earliest, validation the next share, test the latest."""
    ordered = items.sort(names.EVENT_TIMESTAMP, names.ITEM_ID)
    n = ordered.height
    first_test, first_valid = n - round(n * config.test_share), n - round(n * (config.test_share + config.validation_share))
    return {"train": ordered[:first_valid], "validation": ordered[first_valid:first_test], "test": ordered[first_test:]}


def neighbour_prices(splits: dict[str, pl.DataFrame], k: int) -> dict[str, pl.DataFrame]:
    """Each item's ``KNN`` features from its nearest training items by text (FAISS, inner product
    of unit vectors), a training item's own row left out."""
    import faiss

    train = splits["train"]
    vectors = vector_matrix(train[EMBEDDING]).astype(np.float32)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    prices = train["log_price"].to_numpy()
    out = {}
    for name, frame in splits.items():
        queries = vector_matrix(frame[EMBEDDING]).astype(np.float32)
        similarity, found = index.search(queries, k + 1)
        if name == "train":                      # drop the item itself (it is its own nearest)
            own = found == np.arange(len(frame))[:, None]
            keep = np.argsort(own, axis=1, kind="stable")[:, :k]
            similarity, found = np.take_along_axis(similarity, keep, 1), np.take_along_axis(found, keep, 1)
        else:
            similarity, found = similarity[:, :k], found[:, :k]
        weights = np.clip(similarity, 1e-6, None)
        out[name] = frame.with_columns(
            pl.Series(KNN[0], np.median(prices[found], axis=1)),
            pl.Series(KNN[1], (weights * prices[found]).sum(axis=1) / weights.sum(axis=1)),
            pl.Series(KNN[2], similarity[:, 0]))
    return out


NEW_ITEMS_SQL = f"""SELECT item_id AS {names.ITEM_ID}, launch_ts AS {names.EVENT_TIMESTAMP}, ln(base_price) AS log_price
                    FROM items WHERE base_price > 0 ORDER BY item_id"""
NEXT_WEEK_SQL = f"""
WITH cutoffs AS (SELECT unnest(?::TIMESTAMPTZ[]) AS t)
SELECT n.item_id AS {names.ITEM_ID}, c.t AS {names.EVENT_TIMESTAMP}, c.t AS {CUTOFF},
       last_price.price AS last_price, n.price AS next_price
FROM cutoffs c
JOIN prices n ON n.day = CAST(c.t AS DATE) + 7
JOIN prices last_price ON last_price.item_id = n.item_id AND last_price.day = CAST(c.t AS DATE) - 1
ORDER BY c.t, n.item_id
"""


def next_week_rows(settings: Settings, config: PricePredictionConfig) -> dict[str, pl.DataFrame]:
    """Per split, (item, cut-off T) with the list price of day T - 1 and of day T + 7."""
    spec = LabelSpec(horizon_days=8, train_cutoffs=config.train_weeks, validation_cutoffs=config.validation_weeks,
                     test_cutoffs=config.test_weeks)
    schedule = cutoff_schedule(settings.warehouse_path, spec)
    with connect(settings.warehouse_path) as con:
        return {split: con.sql(NEXT_WEEK_SQL, params=[times]).pl() for split, times in schedule.items()}


def _fit(config: PricePredictionConfig, layout: FeatureLayout, train: pl.DataFrame, valid: pl.DataFrame,
         label: str) -> lgb.Booster:
    train_set = lgb.Dataset(layout.matrix(train), train[label].to_numpy())
    valid_set = lgb.Dataset(layout.matrix(valid), valid[label].to_numpy(), reference=train_set)
    return lgb.train(lgb_params(config, objective="regression_l1"), train_set, num_boost_round=config.max_rounds,
                     valid_sets=[valid_set], callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)])


def price_errors(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """MAE, MAPE, the median absolute percentage error and the share within 10%."""
    error = np.abs(predicted - actual)
    relative = error / actual
    return {"mae": float(error.mean()), "mape": float(relative.mean()), "median_ape": float(np.median(relative)),
            "within_10_percent": float((relative <= 0.1).mean())}


def category_medians(train: pl.DataFrame, log_price: str) -> dict[str, float]:
    return {row[0] or NO_CATEGORY: row[1] for row in
            train.group_by(CATEGORY).agg(pl.col(log_price).median()).iter_rows()}


def _by_category(frame: pl.DataFrame, medians: dict[str, float]) -> np.ndarray:
    overall = float(np.median(list(medians.values())))
    return np.array([medians.get(c or NO_CATEGORY, overall) for c in frame[CATEGORY].to_list()])


class PricePredictionTask:
    name = "price_prediction"
    question = "What price should a new item list at, and what will a listed item's price be next week?"
    family = "demand"
    entity = "item"
    feature_service = names.PRICE_V1
    config_type = PricePredictionConfig
    evaluation = Tabled("regression", NEW, model=MODEL, reference=CATEGORY_MEDIAN, metric="mape",
                        label="new-item price MAPE")

    def build_dataset(self, config: PricePredictionConfig, settings: Settings) -> PriceData:
        with connect(settings.warehouse_path) as con:
            items = con.sql(NEW_ITEMS_SQL).pl()
        items = point_in_time_dataset(items, self.feature_service, settings)
        if items[EMBEDDING].null_count() == items.height:
            raise ValueError("no item embeddings: run `shopml index build` first")
        items = items.filter(pl.col(EMBEDDING).is_not_null())
        new = neighbour_prices(launch_splits(items, config), config.neighbours)
        weekly = {split: point_in_time_dataset(rows, self.feature_service, settings).with_columns(
            (pl.col("next_price") / pl.col("last_price")).log().alias("log_ratio"))
            for split, rows in next_week_rows(settings, config).items()}
        layouts = {NEW: FeatureLayout.from_training(new["train"].select(NEW_FEATURES)),
                   NEXT: FeatureLayout.from_training(weekly["train"].select(NEXT_FEATURES))}
        log.info("price_prediction: %s new items, %s listed item-weeks", {s: f.height for s, f in new.items()},
                 {s: f.height for s, f in weekly.items()})
        return PriceData(new=new, next=weekly, layouts=layouts)

    def train(self, config: PricePredictionConfig, data: PriceData) -> dict[str, lgb.Booster]:
        return {NEW: _fit(config, data.layouts[NEW], data.new["train"], data.new["validation"], "log_price"),
                NEXT: _fit(config, data.layouts[NEXT], data.next["train"], data.next["validation"], "log_ratio")}

    def evaluate(self, config: PricePredictionConfig, model: dict[str, lgb.Booster], data: PriceData,
                 settings: Settings) -> Evaluation:
        new, medians = data.new["test"], category_medians(data.new["train"], "log_price")
        actual = np.exp(new["log_price"].to_numpy())
        new_table = {name: price_errors(actual, np.exp(log_price)) for name, log_price in (
            (MODEL, model[NEW].predict(data.layouts[NEW].matrix(new))),
            (CATEGORY_MEDIAN, _by_category(new, medians)), (NEIGHBOURS, new[KNN[0]].to_numpy()))}
        weekly = data.next["test"]
        last, following = weekly["last_price"].to_numpy(), weekly["next_price"].to_numpy()
        next_table = {name: price_errors(following, predicted) for name, predicted in (
            (MODEL, last * np.exp(model[NEXT].predict(data.layouts[NEXT].matrix(weekly)))), (LAST_PRICE, last),
            (CATEGORY_MEDIAN, np.exp(_by_category(weekly, category_medians(
                data.next["train"].with_columns(pl.col("last_price").log().alias("log_last")), "log_last")))))}
        return Evaluation(heads={}, tables={NEW: new_table, NEXT: next_table})

    def save(self, config: PricePredictionConfig, model: dict[str, lgb.Booster], data: PriceData, metrics: dict,
             settings: Settings) -> str:
        metadata = {"config": config.__dict__, "metrics": metrics,
                    "features": {head: layout.columns for head, layout in data.layouts.items()},
                    "categories": {head: {c: list(v) for c, v in layout.categorical.items()}
                                   for head, layout in data.layouts.items()},
                    "rows": {"new items": {s: f.height for s, f in data.new.items()},
                             "listed item-weeks": {s: f.height for s, f in data.next.items()}}}
        return save_boosters(self.name, {"new_item": model[NEW], "next_week": model[NEXT]}, "new_item",
                             task_labels(self), metadata, settings)
