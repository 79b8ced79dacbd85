"""Interactions: when a user views an item, will they like it, favourite it or share it?

Rows are the first view of an item in a session, over the latest whole weeks (a seeded sample
per week caps their number); the as-of time is the view, features come from ``interaction_v1``
(the user's activity, engagement and interest in the item's category; the item's sales and
content) as of that moment, and each head's label is whether the user did it to that item within
``LABEL_WINDOW`` of the view (the session). Train on the earliest weeks, stop early on the next,
test on the latest.

The baseline is a logistic regression on the user's own habit (their likes, favourites and shares
of the last 30 days) and the item's popularity (its views of the last 7 days). The oracle, on
simulated data, is the probability the simulator drew each interaction with: a session does each
at most once, with the probability ``truth.sessions`` records for the category it landed in, to
one of its views chosen by ``engagement_quality * quality`` plus Gumbel noise, so an item viewed
``k`` times is the one with probability ``k exp(b q) / sum over the session's views of exp(b q)``.

Served as ``POST /interactions``: per candidate item of one user, each interaction's probability;
an unknown user is scored on the items' features alone (``known_user: false``), an item the online
store does not hold gets the base rate (``known_item: false``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

import lightgbm as lgb
import numpy as np
import polars as pl
from pydantic import BaseModel, Field
from sklearn.linear_model import LogisticRegression

from feature_repo.definitions import names
from shopml.matrix import FeatureLayout
from shopml.model_store import BoostedModel
from shopml.serving import Endpoint, Id, OnlineReader, Request, SavedModel, known_users
from shopml.settings import Settings
from shopml.warehouse.database import connect

from ..boosting import BoostingConfig, fit_binary, save_task_model
from ..datasets import point_in_time_dataset
from ..evaluation import BASELINE, MODEL, ORACLE, Evaluation, HeadEvaluation, shap_importance
from ..kinds import BINARY
from ..labels import CUTOFF, WEEK_START_SQL, midnight_after, split_by_time
from ..oracle import simulation_config

HEADS = ("like", "favorite", "share")          # event types, one head each
LABEL_WINDOW = timedelta(hours=1)              # the interaction comes within the viewing session
MAX_ITEMS = 200                                # candidate items per request
ITEM_CATEGORY = f"{names.ITEM_CONTENT}__category"
NO_CATEGORY = ""                               # an unknown item's category: no user-category row matches it
HABIT = ("user_engagement__likes_30d", "user_engagement__favorites_30d", "user_engagement__shares_30d",
         "item_stats__views_7d")

VIEWS_SQL = """
WITH first_views AS (
    SELECT session_id, user_id, item_id, min(ts) AS ts, count(*) AS views
    FROM events WHERE event_type = 'view' AND ts >= ?::TIMESTAMPTZ AND ts < ?::TIMESTAMPTZ
    GROUP BY session_id, user_id, item_id
    ORDER BY hash(session_id, item_id, {seed}) LIMIT {per_week}
)
SELECT v.session_id, v.user_id AS {user}, v.item_id AS {item}, i.category AS {category}, v.ts AS {ts}, v.views,
       {week_start} AS {cutoff},
       {labels}
FROM first_views v JOIN items i USING (item_id)
"""
LABEL_SQL = """EXISTS (SELECT 1 FROM events d WHERE d.user_id = v.user_id AND d.item_id = v.item_id
       AND d.event_type = '{head}' AND d.ts >= v.ts AND d.ts <= v.ts + INTERVAL {window} SECOND) AS {head}"""
ORACLE_SQL = """
WITH session_views AS (
    SELECT e.session_id, e.item_id, count(*) * exp(? * any_value(q.quality)) AS weight
    FROM events e JOIN truth.items q USING (item_id)
    WHERE e.event_type = 'view' AND e.session_id IN (SELECT session_id FROM wanted)
    GROUP BY ALL
),
chosen AS (SELECT session_id, item_id, weight / sum(weight) OVER (PARTITION BY session_id) AS chosen
           FROM session_views)
SELECT w.row, {probabilities}, c.chosen
FROM wanted w JOIN truth.sessions s USING (session_id) JOIN chosen c USING (session_id, item_id)
ORDER BY w.row
"""


@dataclass(frozen=True)
class InteractionsConfig(BoostingConfig):
    weeks: int = 8                    # weeks of views, the latest whole ones
    validation_weeks: int = 1         # for early stopping
    test_weeks: int = 2               # held out, the latest
    views_per_week: int = 40_000      # first views sampled per week (seeded): every week weighs the same


@dataclass
class InteractionsData:
    splits: dict[str, pl.DataFrame]
    layout: FeatureLayout


def labelled_views(settings: Settings, config: InteractionsConfig) -> pl.DataFrame:
    """First views of an item per session in the latest ``weeks`` whole weeks, a seeded sample of
    ``views_per_week`` each, with ``cutoff`` (the start of the view's week) and one label per head."""
    with connect(settings.warehouse_path) as con:
        last = con.execute("SELECT max(ts) FROM events WHERE event_type = 'view'").fetchall()[0][0]
        if last is None:
            raise ValueError("the warehouse has no views")
        end = midnight_after(last)
        labels = ",\n       ".join(LABEL_SQL.format(head=head, window=int(LABEL_WINDOW.total_seconds()))
                                    for head in HEADS)
        weeks = []
        for week in range(config.weeks):         # sampled per week, so every week weighs the same
            start, stop = end - timedelta(days=7 * (week + 1)), end - timedelta(days=7 * week)
            query = VIEWS_SQL.format(seed=config.seed, per_week=config.views_per_week, user=names.USER_ID,
                                     item=names.ITEM_ID, category=names.CATEGORY, ts=names.EVENT_TIMESTAMP,
                                     week_start=WEEK_START_SQL.format(ts="v.ts"), cutoff=CUTOFF, labels=labels)
            # the last week stops a label window before the data ends, so every label is complete
            weeks.append(con.sql(query, params=[start, min(stop, end - LABEL_WINDOW), end, end]).pl())
    return pl.concat(weeks).sort(names.EVENT_TIMESTAMP, "session_id", names.ITEM_ID)


def oracle_probabilities(settings: Settings, rows: pl.DataFrame) -> dict[str, np.ndarray] | None:
    """Per row and head, the simulator's probability that the session did it to the row's item."""
    config = simulation_config(settings)
    if config is None:
        return None
    with connect(settings.warehouse_path) as con:
        con.register("wanted", rows.select("session_id", names.ITEM_ID).with_row_index("row").to_arrow())
        found = con.sql(ORACLE_SQL.format(probabilities=", ".join(f"s.p_{head}" for head in HEADS)),
                        params=[config.behaviour.engagement_quality]).pl()
    if found.height != rows.height:
        raise ValueError(f"{rows.height - found.height} views have no recorded session or hidden quality")
    chosen = found["chosen"].to_numpy()
    return {head: found[f"p_{head}"].to_numpy() * chosen for head in HEADS}


def habit_baseline(train: pl.DataFrame, label: str):
    """A logistic regression on the user's engagement habit and the item's popularity."""
    def design(frame: pl.DataFrame) -> np.ndarray:
        return np.log1p(frame.select(HABIT).fill_null(0).to_numpy().astype(float))

    model = LogisticRegression(max_iter=1000).fit(design(train), train[label].to_numpy())
    return lambda frame: model.predict_proba(design(frame))[:, 1]


class InteractionsRequest(Request):
    user_id: Id
    item_ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_ITEMS)]


class ItemInteractions(BaseModel):
    item_id: int
    like: float                       # P(like) when the user views the item
    favorite: float
    share: float
    known_item: bool                  # false: the base rates answered


class InteractionsResponse(BaseModel):
    model: str
    user_id: int
    known_user: bool                  # false: scored on the items' features alone
    items: list[ItemInteractions]     # in the order asked


class InteractionsAnswers:
    def __init__(self, models: dict[str, SavedModel], online: OnlineReader):
        self.model, self.online = BoostedModel.load(models["interactions"]), online

    def answer(self, request: InteractionsRequest) -> InteractionsResponse:
        items = request.item_ids
        categories = self.online.read(names.SEARCH_V1, {names.ITEM_ID: items})[ITEM_CATEGORY]
        known_item = np.array([category is not None for category in categories])
        rows = {names.USER_ID: [request.user_id] * len(items), names.ITEM_ID: items,
                names.CATEGORY: [category or NO_CATEGORY for category in categories]}   # Feast refuses a null key
        features = self.online.read(names.INTERACTION_V1, rows)
        heads = {head: np.where(known_item, self.model.predict(head, features), self.model.prior(head))
                 for head in HEADS}
        return InteractionsResponse(
            model=self.model.saved.tag, user_id=request.user_id, known_user=bool(known_users(features)[0]),
            items=[ItemInteractions(item_id=item, known_item=bool(known), **{h: float(heads[h][i]) for h in HEADS})
                   for i, (item, known) in enumerate(zip(items, known_item))])


class InteractionsTask:
    name = "interactions"
    question = "Will this user like, favourite or share the item they view?"
    family = "users"
    entity = "user"
    feature_service = names.INTERACTION_V1
    config_type = InteractionsConfig
    evaluation = BINARY
    endpoint = Endpoint(
        path="/interactions", request=InteractionsRequest, response=InteractionsResponse, models=("interactions",),
        start=InteractionsAnswers,
        example=lambda shop: {"user_id": shop.active_user, "item_ids": [shop.bought_item, 10**12]},
        doc="P(like), P(favourite) and P(share) of each candidate item, were the user to view it.")

    def build_dataset(self, config: InteractionsConfig, settings: Settings) -> InteractionsData:
        dataset = point_in_time_dataset(labelled_views(settings, config), self.feature_service, settings)
        splits = split_by_time(dataset, config.validation_weeks, config.test_weeks, horizon=LABEL_WINDOW)
        return InteractionsData(splits=splits, layout=FeatureLayout.from_training(splits["train"]))

    def train(self, config: InteractionsConfig, data: InteractionsData) -> dict[str, lgb.Booster]:
        train, valid = data.splits["train"], data.splits["validation"]
        return {head: fit_binary(config, data.layout, train, valid, head) for head in HEADS
                if train[head].n_unique() == 2 and valid[head].n_unique() == 2}

    def evaluate(self, config: InteractionsConfig, model: dict[str, lgb.Booster], data: InteractionsData,
                 settings: Settings) -> Evaluation:
        test = data.splits["test"]
        matrix = data.layout.matrix(test)
        oracle = oracle_probabilities(settings, test)
        heads = {}
        for head, booster in model.items():
            scores = {MODEL: booster.predict(matrix), BASELINE: habit_baseline(data.splits["train"], head)(test)}
            if oracle is not None:
                scores[ORACLE] = oracle[head]
            heads[head] = HeadEvaluation(labels=test[head].cast(pl.Int8).to_numpy(), scores=scores,
                                         importance=shap_importance(booster, matrix),
                                         findings={"best_iteration": booster.best_iteration})
        return Evaluation(heads)

    def save(self, config: InteractionsConfig, model: dict[str, lgb.Booster], data: InteractionsData,
             metrics: dict, settings: Settings) -> str:
        return save_task_model(self, model, next(iter(model)), config, data.splits, data.layout, metrics, settings)
