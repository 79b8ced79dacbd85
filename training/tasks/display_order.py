"""Display order: in which order to show a given set of items to a user (a category page, a
carousel), so that the first slots hold what this user will click.

Learned from the category pages the shop logs (``pages``, ``page_impressions``): every shown
item with its position and whether it was clicked, and the engine's exploration slice (pages
showing a random sample of the category in random order, ``explored``). The production engine
orders pages by appeal, so its logs say little about the items it never puts on top; the learner
is chosen on the validation pages among those of ``training.exposure`` (unbiased lambdarank on
every shown item, the exploration slice weighted by the inverse of its examination curve, or the
first continued on the second). Features: ``display_order_v1`` as of the page's time (the user's
activity and spending, the item's sales and price) and two of the pair: the item's price against
the median of the items being ordered, and against the user's usual order value (``pair_features``).

The choice reads the validation weeks' pages only, by an estimate any shop can make without the
truth: a shown item's click over the examination of the position it had estimates its attraction
without bias (whichever policy put it there), so a reordering of a page's items has an estimate of
its expected clicks in the first slots: those estimates, each times the examination of the slot
the order gives it (``estimated_clicks``; the examination curve is measured on the exploration
slice). The test pages are read
once, by ``evaluate``: each page's shown items reordered by the ranker, by popularity (sales of
the last 30 days) and as the engine showed them, judged by the expected clicks of the first 10
slots under the simulator's own click model (truth: each item's attraction for this user, the
examination of each position), beside the oracle order (by true attraction).

Served as ``POST /rank``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Annotated

import lightgbm as lgb
import numpy as np
import polars as pl
from pydantic import BaseModel, Field, field_validator

from feature_repo.definitions import names
from shopml.matrix import FeatureLayout
from shopml.model_store import boosters_in
from shopml.retrieval import ItemIndex
from shopml.serving import Endpoint, Id, ItemResult, OnlineReader, Request, SavedModel, known_users, must_not_repeat
from shopml.settings import Settings
from shopml.warehouse.database import connect, has_truth

from ..boosting import BoostingConfig, save_task_model
from ..datasets import point_in_time_dataset
from ..evaluation import Evaluation
from ..exposure import (LogSampling, RankingLogs, examination_curve, exposure_labels, fit_learner, label_gains,
                        learners, logged_splits)
from ..item_index import INDEX_MODEL
from ..kinds import ranking
from ..labels import CUTOFF, WEEK_START_SQL, midnight_after

log = logging.getLogger(__name__)

HEAD, LABEL, PAGE_ID = "rank", "clicked_label", "page_id"
SLOTS = 10                           # the first slots a page is judged by
MAX_ITEMS = 500                      # items per /rank request
LABEL_WINDOW = timedelta(hours=1)    # a page's clicks come within its session
MODEL, POPULARITY, LOGGED, ORACLE = "ranker", "popularity", "as the engine showed them", "oracle"
TABLE = f"expected clicks in the first {SLOTS} slots of the test pages"
CHOICES = f"choices on the validation pages (estimated clicks in the first {SLOTS} slots)"
SALES = f"{names.ITEM_STATS}__purchases_30d"
PRICE = f"{names.ITEM_STATS}__current_price"
ORDER_VALUE = f"{names.USER_MONETARY}__avg_order_value_90d"
CATEGORY = f"{names.ITEM_CONTENT}__category"
PAIR_FEATURES = ("log_price_vs_items_median", "log_price_vs_order_value")


@dataclass(frozen=True)
class DisplayOrderConfig(BoostingConfig):
    weeks: int = 8                    # weeks of pages, the latest whole ones
    validation_weeks: int = 1         # early stopping and the choice of learner
    test_weeks: int = 1               # held out, the latest
    max_train_pages: int = 20_000     # sampled from the training weeks (validation: a fifth of it)
    max_test_pages: int = 4_000
    exploration_weeks: int = 26       # weeks of the engine's exploration traffic (a small slice of all pages)
    max_explored_pages: int = 20_000
    min_explored_pages: int = 200     # fewer in the slice's training weeks (or a tenth in validation's): shown items only
    # How the ranker learns from the logs (training.exposure): "shown", "explored",
    # "shown+explored", or "auto": the best on the validation weeks' explored pages.
    learning: str = "auto"
    min_data_in_leaf: int = 50


@dataclass
class DisplayOrderData:
    logs: RankingLogs                 # shown items of the sampled pages, and the exploration slice
    test: pl.DataFrame                # the test pages' shown items, with the truth's attraction where known
    layout: FeatureLayout
    examination: np.ndarray           # measured on the exploration slice, relative to position 1
    true_examination: np.ndarray | None   # the simulator's, per position (None on imported data)
    choices: dict[str, float] = field(default_factory=dict)    # learner -> estimated clicks on validation

    @property
    def splits(self) -> dict[str, pl.DataFrame]:
        return {**self.logs.shown, **{f"explored_{k}": v for k, v in self.logs.explored.items()}, "test": self.test}


PAGES_SQL = f"""
SELECT page_id, user_id AS {names.USER_ID}, ts AS {names.EVENT_TIMESTAMP}, {WEEK_START_SQL.format(ts="ts")} AS {CUTOFF}
FROM pages WHERE ts >= ?::TIMESTAMPTZ - to_days(7 * ?) AND (explored OR NOT ?) ORDER BY page_id
"""


def _pages(settings: Settings, config: DisplayOrderConfig) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame]]:
    """The sampled pages of each split, and the exploration slice's of train and validation (none
    when too few to learn from)."""
    with connect(settings.warehouse_path) as con:
        last = con.execute("SELECT max(ts) FROM pages").fetchall()[0][0]
        if last is None:
            raise ValueError("the warehouse has no category pages (table pages): nothing to learn a display order from")
        end = midnight_after(last)
        pages = con.sql(PAGES_SQL, params=[end, end, end, config.weeks, False]).pl()
        explored = con.sql(PAGES_SQL, params=[end, end, end, config.exploration_weeks, True]).pl()
    sampling = LogSampling(
        key=PAGE_ID, caps={"train": config.max_train_pages, "validation": config.max_train_pages // 5,
                           "test": config.max_test_pages},
        max_explored=config.max_explored_pages, min_explored=config.min_explored_pages,
        validation_cutoffs=config.validation_weeks, test_cutoffs=config.test_weeks, horizon=LABEL_WINDOW,
        seed=config.seed)
    return logged_splits(pages, explored, sampling, "display_order")


def pair_features(items: pl.DataFrame, group: str | None = None) -> pl.DataFrame:
    """``items`` (``display_order_v1`` columns) with PAIR_FEATURES: the item's log price against
    the median of the items ordered together (per ``group``; all of them when None) and against
    the user's average order value."""
    median = pl.col(PRICE).median()
    return items.with_columns(
        (pl.col(PRICE) / (median.over(group) if group else median)).log().alias(PAIR_FEATURES[0]),
        (pl.col(PRICE) / pl.col(ORDER_VALUE)).log().alias(PAIR_FEATURES[1]))


def _shown(settings: Settings, pages: pl.DataFrame) -> pl.DataFrame:
    """Every item shown on ``pages``: its position, whether it was clicked, LABEL, its features as
    of the page's time, and (on simulated data) its true ``attraction`` for the page's user."""
    with connect(settings.warehouse_path) as con:
        con.register("wanted", pages.select(PAGE_ID).to_arrow())
        truth = has_truth(con)
        shown = con.sql(f"""
            SELECT i.page_id, i.item_id AS {names.ITEM_ID}, i.position, i.clicked, false AS purchased,
                   i.clicked::INTEGER AS {LABEL}{', t.attraction' if truth else ''}
            FROM page_impressions i JOIN wanted USING (page_id)
            {'JOIN truth.page_impressions t USING (page_id, item_id)' if truth else ''}""").pl()
    featured = point_in_time_dataset(pages.join(shown, on=PAGE_ID), names.DISPLAY_ORDER_V1, settings)
    return pair_features(featured, PAGE_ID).sort(PAGE_ID, "position")


def _true_examination(settings: Settings, slots: int) -> np.ndarray | None:
    """The simulator's P(examine position p), p = 1..slots: a shown item's click probability over
    its attraction (None without the truth)."""
    with connect(settings.warehouse_path) as con:
        if not has_truth(con):
            return None
        by_position = dict(con.sql(f"""
            SELECT i.position, avg(t.p_click / t.attraction)
            FROM (SELECT * FROM page_impressions WHERE position <= {slots} LIMIT 100000) i
            JOIN truth.page_impressions t USING (page_id, item_id) GROUP BY i.position""").fetchall())
    return np.array([by_position[p] for p in range(1, slots + 1)])


def feature_layout(train: pl.DataFrame) -> FeatureLayout:
    """Every ``display_order_v1`` feature and PAIR_FEATURES."""
    featured = FeatureLayout.from_training(train)
    return FeatureLayout(numeric=(*featured.numeric, *PAIR_FEATURES), categorical=featured.categorical)


def ranked_positions(frame: pl.DataFrame, by: str) -> pl.DataFrame:
    """``frame``'s pages (in shown order) with ``rank``: each item's slot when its page is ordered
    by ``by``, larger first (ties: as shown)."""
    return frame.with_columns(pl.col(by).rank("ordinal", descending=True).over(PAGE_ID).alias("rank"))


def estimated_clicks(pages: pl.DataFrame, score: np.ndarray, examination: np.ndarray) -> float:
    """Mean over ``pages`` (shown items with ``position`` and ``clicked``) of the clicks the
    ``score`` order of each page's items would get in the first SLOTS slots: each item's
    attraction estimated by its click over the examination of the position it had, times the
    examination of the slot the order gives it."""
    ranked = ranked_positions(pages.with_columns(pl.Series("score", score)), "score").filter(pl.col("rank") <= SLOTS)
    rank, position = ranked["rank"].to_numpy(), ranked["position"].to_numpy()
    gain = ranked["clicked"].to_numpy() / examination[position - 1]
    return float((gain * examination[rank - 1]).sum() / pages[PAGE_ID].n_unique())


def _order_score(pages: pl.DataFrame, column: str) -> np.ndarray:
    """A score whose falling order is the order by ``column`` (``position``: as shown)."""
    values = pages[column].cast(pl.Float64).fill_null(float("-inf")).to_numpy()
    return -values if column == "position" else values


def expected_clicks(test: pl.DataFrame, orders: dict[str, str], true_examination: np.ndarray,
                    examination: np.ndarray) -> dict[str, dict[str, float]]:
    """Per order (name -> the column to sort each page by, larger first; ``position``: as shown):
    the expected clicks in the first SLOTS slots under the true attraction and examination, their
    share of the oracle's, and the estimate ``estimated_clicks`` makes of them from the clicks."""
    pages = test[PAGE_ID].n_unique()
    table = {}
    for name, column in {**orders, ORACLE: "attraction"}.items():
        score = _order_score(test, column)
        top = ranked_positions(test.with_columns(pl.Series("order", score)), "order").filter(pl.col("rank") <= SLOTS)
        table[name] = {f"clicks_at_{SLOTS}": float((top["attraction"].to_numpy() * true_examination[top["rank"].to_numpy() - 1]
                                                    ).sum() / pages),
                       f"estimated_clicks_at_{SLOTS}": estimated_clicks(test, score, examination), "pages": float(pages)}
    best = table[ORACLE][f"clicks_at_{SLOTS}"]
    return {name: {**row, "share_of_oracle": row[f"clicks_at_{SLOTS}"] / best} for name, row in table.items()}


class RankRequest(Request):
    user_id: Id
    item_ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_ITEMS)]

    _distinct = field_validator("item_ids")(must_not_repeat)


class RankResponse(BaseModel):
    user_id: int
    known_user: bool
    fallback: str | None              # "popular order" when the user is unknown
    items: list[ItemResult]           # every requested item the shop knows, in display order; score = the ranker's
    unknown_item_ids: list[int]       # not in the catalogue: left out, in the order given


class RankAnswers:
    def __init__(self, models: dict[str, SavedModel], online: OnlineReader):
        saved = models["display_order"]
        self.ranker = boosters_in(saved.folder, saved.metadata)[saved.metadata["primary_head"]]
        self.layout, self.online = FeatureLayout.from_metadata(saved.metadata), online
        self.index = ItemIndex.load(models[INDEX_MODEL].folder)

    def answer(self, request: RankRequest) -> RankResponse:
        items = request.item_ids
        features = pl.DataFrame(self.online.read(names.DISPLAY_ORDER_V1, {
            names.USER_ID: [request.user_id] * len(items), names.ITEM_ID: items}), strict=False,
            infer_schema_length=None).with_columns(pl.Series(names.ITEM_ID, items, dtype=pl.Int64))
        known_user = bool(known_users(features.to_dict(as_series=False))[0])
        in_catalogue = features[CATEGORY].is_not_null()
        unknown = features.filter(~in_catalogue)[names.ITEM_ID].to_list()
        features = pair_features(features.filter(in_catalogue))
        if known_user:
            scores = self.ranker.predict(self.layout.array(features.to_dict(as_series=False)), num_threads=1)
        else:
            sales = features[SALES].fill_null(0.0).to_numpy()
            scores = sales / max(sales.max(initial=0.0), 1.0)
        order = np.argsort(-scores, kind="stable")
        ids = features[names.ITEM_ID].to_list()
        return RankResponse(user_id=request.user_id, known_user=known_user,
                            fallback=None if known_user else "popular order", unknown_item_ids=unknown, items=[
                                ItemResult(item_id=ids[i], title=self.index.title(ids[i]),
                                           score=round(float(scores[i]), 6)) for i in order])


class DisplayOrderTask:
    name = "display_order"
    question = "In which order should this user see these items?"
    family = "ranking"
    entity = "user"
    feature_service = names.DISPLAY_ORDER_V1
    evaluation = ranking(TABLE, model=MODEL, reference=POPULARITY, metric=f"clicks_at_{SLOTS}",
                         label=f"expected clicks in the first {SLOTS} slots")
    endpoint = Endpoint(
        path="/rank", request=RankRequest, response=RankResponse, models=("display_order", INDEX_MODEL),
        start=RankAnswers, example=lambda shop: {"user_id": shop.active_user, "item_ids": shop.page_items},
        doc="The given `item_ids` (a category page, a carousel) in the order to show them to `user_id`; an unknown "
            "user gets them by popularity, flagged; ids the shop does not know are listed apart.")
    config_type = DisplayOrderConfig

    def build_dataset(self, config: DisplayOrderConfig, settings: Settings) -> DisplayOrderData:
        learners(config.learning)
        pages, explored = _pages(settings, config)
        if not explored and config.learning not in ("auto", "shown"):
            raise ValueError(f"learning={config.learning!r} needs the engine's exploration traffic, and the "
                             "warehouse has too few explored pages")
        shown = {name: _shown(settings, pages[name]) for name in ("train", "validation")}
        slots = int(shown["train"]["position"].max())
        explored_rows = {name: exposure_labels(_shown(settings, frame), slots) for name, frame in explored.items()}
        examination = examination_curve(explored_rows["train"], slots) if explored_rows else np.ones(slots)
        logs = RankingLogs(query=PAGE_ID, label=LABEL, shown=shown, explored=explored_rows,
                           gains=label_gains(examination))
        log.info("display_order: %s pages, %s explored pages", {k: v.height for k, v in pages.items()},
                 {k: v.height for k, v in explored.items()})
        return DisplayOrderData(logs=logs, test=_shown(settings, pages["test"]), layout=feature_layout(shown["train"]),
                                examination=examination, true_examination=_true_examination(settings, slots))

    def train(self, config: DisplayOrderConfig, data: DisplayOrderData) -> dict[str, lgb.Booster]:
        """One ranker per learner (without exploration traffic, ``shown`` only)."""
        chosen = learners(config.learning) if data.logs.explored else ("shown",)
        confounded = tuple(c for c in data.layout.columns if c.startswith(f"{names.ITEM_STATS}__"))
        return {learning: fit_learner(learning, config, data.layout, data.logs, confounded) for learning in chosen}

    def choose(self, config: DisplayOrderConfig, model: dict[str, lgb.Booster], data: DisplayOrderData,
               settings: Settings) -> DisplayOrderConfig:
        """The learner whose order of the validation pages' items gets the most estimated clicks
        (the first of equals)."""
        pages = data.logs.shown["validation"]
        for learning, booster in model.items():
            data.choices[learning] = estimated_clicks(pages, booster.predict(data.layout.matrix(pages)), data.examination)
        best = max(data.choices, key=data.choices.get)
        log.info("display_order: estimated validation clicks by learner %s; chosen %r",
                 {k: round(v, 4) for k, v in data.choices.items()}, best)
        return replace(config, learning=best)

    def evaluate(self, config: DisplayOrderConfig, model: dict[str, lgb.Booster], data: DisplayOrderData,
                 settings: Settings) -> Evaluation:
        test = data.test.with_columns(pl.Series("score", model[config.learning].predict(data.layout.matrix(data.test))))
        choices = {learning: {f"estimated_clicks_at_{SLOTS}": value, "chosen": float(learning == config.learning)}
                   for learning, value in data.choices.items()}
        orders = {MODEL: "score", POPULARITY: SALES, LOGGED: "position"}
        if data.true_examination is None:
            table = {name: {f"estimated_clicks_at_{SLOTS}": estimated_clicks(test, _order_score(test, column),
                                                                            data.examination)}
                     for name, column in orders.items()}
        else:
            table = expected_clicks(test, orders, data.true_examination, data.examination)
        return Evaluation(heads={}, tables={TABLE: table, CHOICES: choices})

    def save(self, config: DisplayOrderConfig, model: dict[str, lgb.Booster], data: DisplayOrderData, metrics: dict,
             settings: Settings) -> str:
        return save_task_model(self, {HEAD: model[config.learning]}, HEAD, config, data.splits, data.layout, metrics,
                               settings, metadata={"examination": data.examination.round(4).tolist()})
