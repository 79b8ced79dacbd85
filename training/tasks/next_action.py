"""Next action: within a session, after each event, what does the shopper do next: search, view,
cart, purchase, or leave? And where a view comes next, in which category?

Rows are the steps of a seeded sample of sessions per week, over the latest whole weeks
(``training.session_steps``: step 0 as a session opens, then one after each navigation event,
labelled by the next one). The as-of time is the step's event; the features come from
``next_action_v1``: the user's batch views beside the real-time session counters of
``user_realtime``, whose offline history holds, at each event, what the stream consumer pushes
then. One LightGBM multiclass model for the action; train on the earliest weeks, stop early on the
next, test on the latest. The next view's category is a second model over the same steps
(``training.next_category``).

The baseline is the population's step probabilities: the training steps' next-action shares by
last action and views so far (also the answer for a user the online store does not know). The
oracle, on simulated data, is the simulator's own probability of each next action at that step
(``truth.session_steps``), given the session's hidden state; skill is the share of the oracle's
log-loss lead over the baseline that the model wins.

Served as ``POST /next_action``: the session so far comes from the events the request lists, or
else from the stream's counters (fresh within the 30-minute session gap), or else it is a new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import lightgbm as lgb
import numpy as np
import polars as pl
from pydantic import AwareDatetime, BaseModel, Field

from feature_repo.definitions import names
from shopml.matrix import FeatureLayout
from shopml.model_store import BoostedModel
from shopml.serving import Endpoint, Id, OnlineReader, Request, SavedModel, known_users
from shopml.settings import Settings

from .. import next_category as category
from ..boosting import BoostingConfig, lgb_params, save_task_model
from ..datasets import point_in_time_dataset
from ..evaluation import BASELINE, MODEL, ORACLE, Evaluation
from ..kinds import Tabled
from ..labels import split_by_time
from ..metrics.multiclass import accuracy, multiclass_log_loss
from ..report import bar_chart, line_chart
from ..session_steps import (ACTIONS, LAST_ACTION, LAST_VIEW_ITEM, NEXT_CATEGORY, SESSION_END, SESSION_FEATURES,
                             SESSION_VIEWS, opening, oracle_probabilities, session_inputs, session_steps, shares_for,
                             step_shares)
from .preferences import shop_categories

HEAD, CATEGORY_HEAD = "next_action", "next_category"
TABLE = "next action, test week's session steps"
CATEGORY_TABLE = "next view's category, test week's steps before a view"
MAX_EVENTS = 500                    # events a request may list
TOP_CATEGORIES = 3                  # categories a response lists
STEP_CHART = 10                     # the report's by-step chart: steps 0..10+
ITEM_CATEGORY = f"{names.ITEM_CONTENT}__category"


@dataclass(frozen=True)
class NextActionConfig(BoostingConfig):
    weeks: int = 5                     # weeks of sessions, the latest whole ones
    validation_weeks: int = 1          # for early stopping
    test_weeks: int = 1                # held out, the latest
    sessions_per_week: int = 8_000     # sessions sampled per week (seeded): every week weighs the same
    category_steps: int = 12_000       # steps before a view, per split, behind the category model (seeded)


@dataclass
class NextActionData:
    splits: dict[str, pl.DataFrame]                 # steps
    layout: FeatureLayout
    categories: list[str]                           # the shop's, in order
    candidate_splits: dict[str, pl.DataFrame]       # steps before a view, times every category
    category_steps: dict[str, pl.DataFrame]         # those steps
    category_layout: FeatureLayout


def scored(labels: np.ndarray, probabilities: np.ndarray, names_of: tuple[str, ...] = ()) -> dict[str, float]:
    return {"log_loss": multiclass_log_loss(labels, probabilities),
            "accuracy": accuracy(labels, probabilities.argmax(axis=1)),
            **{f"mean_p_{a}": float(probabilities[:, i].mean()) for i, a in enumerate(names_of)}}


def with_skill(table: dict[str, dict]) -> dict[str, dict]:
    """Each row's share of the oracle's log-loss lead over the baseline (where there is an oracle)."""
    if ORACLE in table:
        gap = table[BASELINE]["log_loss"] - table[ORACLE]["log_loss"]
        for row in table.values():
            row["skill"] = (table[BASELINE]["log_loss"] - row["log_loss"]) / gap
    return table


def by_step_chart(steps: np.ndarray, labels: np.ndarray, scores: dict[str, np.ndarray]) -> str:
    """Log loss by step (0 = the session opens), per system."""
    capped = np.minimum(steps, STEP_CHART)
    x = np.arange(STEP_CHART + 1)
    losses = {name: np.array([multiclass_log_loss(labels[capped == s], p[capped == s]) if (capped == s).any()
                              else np.nan for s in x]) for name, p in scores.items()}
    top = float(np.nanmax([np.nanmax(v) for v in losses.values()])) * 1.1
    return line_chart(f"next action: log loss by step (0: the session opens; {STEP_CHART}: {STEP_CHART} or more)",
                      {name: (x / STEP_CHART, v) for name, v in losses.items()}, f"step / {STEP_CHART}",
                      "log loss", y_max=top, markers=True, palette=True)


def gain_chart(booster: lgb.Booster, title: str) -> str:
    gain = dict(zip(booster.feature_name(), booster.feature_importance("gain")))
    return bar_chart(title, dict(sorted(gain.items(), key=lambda item: -item[1])[:12]), "{:,.0f}")


class SessionEvent(BaseModel):
    event_type: Literal[names.NAVIGATION]
    ts: AwareDatetime
    item_id: Id | None = None          # a view's item: where the session is


class NextActionRequest(Request):
    user_id: Id
    # the session's events so far, when no stream feeds the online store; [] a session just opened
    events: Annotated[list[SessionEvent], Field(max_length=MAX_EVENTS)] | None = None


class CategoryChance(BaseModel):
    category: str
    probability: float


class NextActionResponse(BaseModel):
    model: str
    user_id: int
    known_user: bool                   # false: the population's step probabilities answered
    session: Literal["request", "stream", "new"]   # where the session so far came from
    steps: int                         # navigation events in the session so far
    probabilities: dict[str, float]    # next action -> probability (leave: the session ends)
    most_likely: str
    next_view_categories: list[CategoryChance]     # where a next view would land, the likeliest first


class NextActionAnswers:
    def __init__(self, models: dict[str, SavedModel], online: OnlineReader):
        self.model, self.online = BoostedModel.load(models[HEAD]), online
        metadata = self.model.saved.metadata
        self.shares = pl.DataFrame(metadata["step_shares"])
        self.categories = metadata["categories_served"]
        self.category_layout = FeatureLayout.from_metadata(metadata["category_layout"])
        self.stay, self.view_shares = metadata["stay_rate"], np.array(metadata["next_view_shares"])

    def _session(self, request: NextActionRequest, features: dict[str, list]) -> tuple[str, dict[str, float]]:
        if request.events is not None:
            return "request", session_inputs([(e.event_type, e.ts, e.item_id) for e in request.events])
        if features[LAST_ACTION][0] is not None:           # counters within the view's TTL: the session goes on
            return "stream", {f: features[f"{names.USER_REALTIME}__{f}"][0] for f in names.REALTIME_FEATURES}
        return "new", session_inputs(None)

    def _categories(self, user: int, realtime: dict[str, float], known: bool) -> np.ndarray:
        item = realtime[names.LAST_VIEW_ITEM]
        last = (self.online.read(names.SEARCH_V1, {names.ITEM_ID: [int(item)]})[ITEM_CATEGORY][0]
                if item == item and item is not None else None)
        if not known:
            return category.stay_baseline([last], self.categories, self.stay, self.view_shares)[0]
        n = len(self.categories)
        rows = self.online.read(names.NEXT_CATEGORY_V1, {names.USER_ID: [user] * n, names.CATEGORY: self.categories})
        rows |= {category.CANDIDATE: self.categories, category.SAME: [float(c == last) for c in self.categories],
                 **{column: [realtime[column.split("__")[1]]] * n for column in SESSION_FEATURES}}
        scores = self.model.boosters[CATEGORY_HEAD].predict(self.category_layout.array(rows), num_threads=1)
        return category.per_step(scores, n)[0]

    def answer(self, request: NextActionRequest) -> NextActionResponse:
        features = self.online.read(names.NEXT_ACTION_V1, {names.USER_ID: [request.user_id]})
        session, realtime = self._session(request, features)
        features.update({f"{names.USER_REALTIME}__{f}": [value] for f, value in realtime.items()})
        known = bool(known_users(features)[0])
        p = (self.model.predict(HEAD, features)[0] if known
             else shares_for(self.shares, [realtime["last_action"]], [realtime["session_views"]])[0])
        where = self._categories(request.user_id, realtime, known)
        steps = int(sum(realtime[f"session_{kind}"] for kind in ("searches", "views", "carts", "purchases")))
        return NextActionResponse(
            model=self.model.saved.tag, user_id=request.user_id, known_user=known, session=session, steps=steps,
            probabilities={a: float(p[i]) for i, a in enumerate(ACTIONS)}, most_likely=ACTIONS[int(np.argmax(p))],
            next_view_categories=[CategoryChance(category=self.categories[i], probability=float(where[i]))
                                  for i in np.argsort(-where)[:TOP_CATEGORIES]])


class NextActionTask:
    name = HEAD
    question = "What will the shopper do next in this session: search, view, cart, buy or leave, and view where?"
    family = "sequences"
    entity = "user"
    feature_service = names.NEXT_ACTION_V1
    config_type = NextActionConfig
    evaluation = Tabled("multiclass", TABLE, model=MODEL, reference=BASELINE, metric="log_loss", label="log loss",
                        skill="skill")
    endpoint = Endpoint(
        path="/next_action", request=NextActionRequest, response=NextActionResponse, models=(HEAD,),
        start=NextActionAnswers,
        example=lambda shop: {"user_id": shop.active_user, "events": [
            {"event_type": "view", "ts": "2026-01-01T10:00:00Z", "item_id": shop.bought_item},
            {"event_type": "cart", "ts": "2026-01-01T10:01:00Z", "item_id": shop.bought_item}]},
        doc="P(search), P(view), P(cart), P(purchase) and P(leave) next, and the likeliest categories of a next "
            "view, from the session so far.")

    def build_dataset(self, config: NextActionConfig, settings: Settings) -> NextActionData:
        steps = session_steps(settings, config.weeks, config.sessions_per_week, config.seed)
        dataset = category.with_last_category(opening(point_in_time_dataset(steps, self.feature_service, settings)),
                                              category.item_categories(settings))
        splits = split_by_time(dataset, config.validation_weeks, config.test_weeks, horizon=SESSION_END)
        categories = shop_categories(settings)
        before_views = {split: frame.filter(pl.col(NEXT_CATEGORY).is_not_null()) for split, frame in splits.items()}
        category_steps = {split: frame.sample(n=min(config.category_steps, frame.height), seed=config.seed)
                          .sort("session_id", "step") for split, frame in before_views.items()}
        candidate_splits = {split: category.candidates(frame, categories, settings, SESSION_FEATURES)
                            for split, frame in category_steps.items()}
        return NextActionData(
            splits=splits, layout=FeatureLayout.from_training(splits["train"].drop(LAST_VIEW_ITEM)),
            categories=categories, candidate_splits=candidate_splits, category_steps=category_steps,
            category_layout=FeatureLayout.from_training(candidate_splits["train"]))

    def train(self, config: NextActionConfig, data: NextActionData) -> dict[str, lgb.Booster]:
        def dataset(frame, reference=None):
            labels = frame["next"].replace_strict(ACTIONS, range(len(ACTIONS))).to_numpy()
            return lgb.Dataset(data.layout.matrix(frame), labels, reference=reference)

        train = dataset(data.splits["train"])
        params = lgb_params(config, objective="multiclass", num_class=len(ACTIONS), metric="multi_logloss")
        action = lgb.train(params, train, num_boost_round=config.max_rounds,
                           valid_sets=[dataset(data.splits["validation"], train)],
                           callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)])
        where = category.fit(config, data.category_layout, data.candidate_splits["train"],
                             data.candidate_splits["validation"])
        return {HEAD: action, CATEGORY_HEAD: where}

    def evaluate(self, config: NextActionConfig, model: dict[str, lgb.Booster], data: NextActionData,
                 settings: Settings) -> Evaluation:
        test = data.splits["test"]
        labels = test["next"].replace_strict(ACTIONS, range(len(ACTIONS))).to_numpy()
        scores = {MODEL: model[HEAD].predict(data.layout.matrix(test)),
                  BASELINE: shares_for(step_shares(data.splits["train"]), test[LAST_ACTION], test[SESSION_VIEWS])}
        if (oracle := oracle_probabilities(settings, test)) is not None:
            scores[ORACLE] = oracle
        table = with_skill({name: scored(labels, p, ACTIONS) for name, p in scores.items()})
        places = self._evaluate_categories(model[CATEGORY_HEAD], data, settings)
        fitted = {MODEL: {"best_iteration": model[HEAD].best_iteration,
                          "category_best_iteration": model[CATEGORY_HEAD].best_iteration,
                          **{f"{split}_steps": frame.height for split, frame in data.splits.items()},
                          **{f"category_{split}_steps": frame.height for split, frame in data.category_steps.items()}}}
        return Evaluation({}, tables={TABLE: table, CATEGORY_TABLE: places, "training": fitted},
                          figures=[by_step_chart(test["step"].to_numpy(), labels, scores),
                                   gain_chart(model[HEAD], "next action: what the model splits on (total gain)"),
                                   gain_chart(model[CATEGORY_HEAD], "next view's category: what the model splits on")])

    def _evaluate_categories(self, booster: lgb.Booster, data: NextActionData, settings: Settings) -> dict:
        steps, train = data.category_steps["test"], data.category_steps["train"]
        labels = steps[NEXT_CATEGORY].replace_strict(data.categories, range(len(data.categories))).to_numpy()
        candidates = data.candidate_splits["test"]
        scores = {MODEL: category.per_step(booster.predict(data.category_layout.matrix(candidates)), len(data.categories)),
                  BASELINE: category.stay_baseline(steps[category.LAST_CATEGORY].to_list(), data.categories,
                                                   category.stay_rate(train),
                                                   category.next_view_shares(train, data.categories))}
        if (oracle := category.oracle(settings, steps, data.categories)) is not None:
            scores[ORACLE] = oracle
        return with_skill({name: scored(labels, p) for name, p in scores.items()})

    def save(self, config: NextActionConfig, model: dict[str, lgb.Booster], data: NextActionData, metrics: dict,
             settings: Settings) -> str:
        train = data.category_steps["train"]
        layout = data.category_layout
        served = {"step_shares": step_shares(data.splits["train"]).to_dict(as_series=False),
                  "categories_served": data.categories, "stay_rate": category.stay_rate(train),
                  "next_view_shares": category.next_view_shares(train, data.categories).tolist(),
                  "category_layout": {"features": layout.columns,
                                      "categories": {c: list(v) for c, v in layout.categorical.items()}}}
        return save_task_model(self, model, HEAD, config, data.splits, data.layout, metrics, settings, metadata=served)
