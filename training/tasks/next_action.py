"""Next action: within a session, after each event, what does the shopper do next: search, view,
cart, purchase, or leave?

Rows are the steps of a seeded sample of sessions per week, over the latest whole weeks: step 0
as the session opens (before its first event), then one after each of its navigation events
(``names.NAVIGATION``), the label being the next one (``leave``: the session's last event). The
as-of time is the step's event, and the features come from ``next_action_v1``: the user's batch
views and the real-time session counters of ``user_realtime``, whose offline history holds, at
each event, exactly what the stream consumer pushes then. At the opening step the session has no
counters yet: they are zero and the gap before it unknown, as a service sees a new session. One
LightGBM multiclass model; train on the earliest weeks, stop early on the next, test on the latest.

The baseline is the population's step probabilities: the training steps' next-action shares by
last action and views so far (also the answer for a user the online store does not know). The
oracle, on simulated data, is the simulator's own probability of each next action at that step
(``truth.session_steps``), given the session's hidden state; skill is the share of the oracle's
log-loss lead over the baseline that the model wins.

Served as ``POST /next_action``: the session so far comes from the stream's counters, or from the
events the request lists (when no stream runs); no fresh counters means a new session.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal

import lightgbm as lgb
import numpy as np
import polars as pl
from pydantic import AwareDatetime, BaseModel, Field

from feature_repo.definitions import names
from feature_repo.stream import SessionCounters
from shopml.matrix import FeatureLayout
from shopml.model_store import BoostedModel
from shopml.serving import Endpoint, Id, OnlineReader, Request, SavedModel, known_users
from shopml.settings import Settings
from shopml.warehouse.database import connect

from ..boosting import BoostingConfig, lgb_params, save_task_model
from ..datasets import point_in_time_dataset
from ..evaluation import BASELINE, MODEL, ORACLE, Evaluation
from ..kinds import Tabled
from ..labels import CUTOFF, WEEK_START_SQL, midnight_after, split_by_time
from ..metrics.multiclass import accuracy, multiclass_log_loss
from ..report import bar_chart, line_chart

ACTIONS = ("search", "view", "cart", "purchase", "leave")     # the classes, in the simulator's order
HEAD = "next_action"
TABLE = "next action, test weeks' session steps"
SESSION_END = timedelta(minutes=names.SESSION_GAP_MINUTES)     # a session's label is read within this
MAX_EVENTS = 500                                                # events a request may list
VIEWS_CAP = 5                                                   # the baseline's views-so-far buckets: 0..5+
STEP_CHART = 10                                                 # the report's by-step chart: steps 0..10+
REALTIME = [f"{names.USER_REALTIME}__{f}" for f in names.REALTIME_FEATURES]
LAST_ACTION, SESSION_VIEWS = f"{names.USER_REALTIME}__last_action", f"{names.USER_REALTIME}__session_views"
GAP = f"{names.USER_REALTIME}__minutes_since_last_event"

STEPS_SQL = """
WITH nav AS (
    SELECT user_id, session_id, ts, event_type, event_id AS tie FROM events
    WHERE event_type IN ('view', 'cart', 'purchase') AND session_id IS NOT NULL AND user_id IS NOT NULL
    UNION ALL
    SELECT user_id, session_id, ts, 'search', -1 FROM searches WHERE session_id IS NOT NULL AND user_id IS NOT NULL
),
chosen AS (
    SELECT session_id FROM nav GROUP BY session_id
    HAVING min(ts) >= ?::TIMESTAMPTZ AND max(ts) < ?::TIMESTAMPTZ
    ORDER BY hash(session_id, {seed}) LIMIT {per_week}
),
steps AS (
    SELECT n.session_id, n.user_id, n.ts, n.event_type, row_number() OVER w AS step,
           lead(n.event_type, 1, 'leave') OVER w AS next, {week_start} AS cutoff
    FROM nav n JOIN chosen USING (session_id)
    WINDOW w AS (PARTITION BY n.session_id ORDER BY n.ts, n.tie)
)
SELECT session_id, user_id AS {user}, ts AS {ts}, step, next, cutoff AS {cutoff} FROM steps
UNION ALL
SELECT session_id, user_id, ts, 0, event_type, cutoff FROM steps WHERE step = 1
"""
ORACLE_SQL = """
SELECT w.row, {probabilities} FROM wanted w JOIN truth.session_steps t USING (session_id, step) ORDER BY w.row
"""


@dataclass(frozen=True)
class NextActionConfig(BoostingConfig):
    weeks: int = 5                     # weeks of sessions, the latest whole ones
    validation_weeks: int = 1          # for early stopping
    test_weeks: int = 1                # held out, the latest
    sessions_per_week: int = 8_000     # sessions sampled per week (seeded): every week weighs the same


@dataclass
class NextActionData:
    splits: dict[str, pl.DataFrame]
    layout: FeatureLayout


def session_steps(settings: Settings, config: NextActionConfig) -> pl.DataFrame:
    """The steps of ``sessions_per_week`` sessions of each of the latest ``weeks`` whole weeks,
    with ``next`` (the label), ``step`` and ``cutoff`` (the start of the session's week)."""
    with connect(settings.warehouse_path) as con:
        last = con.execute("SELECT max(ts) FROM events WHERE session_id IS NOT NULL").fetchall()[0][0]
        if last is None:
            raise ValueError("the warehouse has no events with a session id: next_action learns from sessions")
        end = midnight_after(last)
        weeks = []
        for week in range(config.weeks):
            start, stop = end - timedelta(days=7 * (week + 1)), end - timedelta(days=7 * week)
            query = STEPS_SQL.format(seed=config.seed, per_week=config.sessions_per_week, user=names.USER_ID,
                                     ts=names.EVENT_TIMESTAMP, cutoff=CUTOFF,
                                     week_start=WEEK_START_SQL.format(ts="n.ts"))
            # a session must end a session gap before the data does, or its last step's "leave" is unsure
            weeks.append(con.sql(query, params=[start, min(stop, end - SESSION_END), end, end]).pl())
    return pl.concat(weeks).sort(names.EVENT_TIMESTAMP, "session_id", "step")


def opening(frame: pl.DataFrame) -> pl.DataFrame:
    """At a session's opening step the session has no counters yet, and the gap before it is
    unknown: as a service sees a new session (``session_inputs``)."""
    is_open = pl.col("step") == 0
    return frame.with_columns(
        *(pl.when(is_open).then(None if column == GAP else 0.0).otherwise(pl.col(column)).alias(column)
          for column in REALTIME))


def session_inputs(events: list[tuple[str, datetime]] | None) -> dict[str, float]:
    """The realtime features after ``events`` (type, time) of one session, counted as the stream
    consumer counts them; none: a session that has just opened."""
    features = {f: 0.0 for f in names.REALTIME_FEATURES} | {"minutes_since_last_event": math.nan}
    counters = SessionCounters()
    for event_type, ts in sorted(events or [], key=lambda event: event[1]):
        features = counters.update(0, 0, event_type, int(ts.timestamp() * 1e6))
    return features


def step_shares(train: pl.DataFrame) -> pl.DataFrame:
    """The population's step probabilities: per last action and views so far (capped), the
    training steps' next-action shares, smoothed towards the overall shares by one step."""
    overall = [(train["next"] == action).mean() for action in ACTIONS]
    keyed = train.select(pl.col(LAST_ACTION).fill_null(0).alias("last"),
                         pl.col(SESSION_VIEWS).fill_null(0).clip(0, VIEWS_CAP).alias("views"), "next")
    counts = keyed.group_by("last", "views").agg(pl.len().alias("n"),
                                                *((pl.col("next") == a).sum().alias(a) for a in ACTIONS))
    return counts.select("last", "views", *((pl.col(a) + overall[i]) / (pl.col("n") + 1) for i, a in enumerate(ACTIONS)))


def shares_for(shares: pl.DataFrame, last_action, session_views) -> np.ndarray:
    """(rows, actions) step probabilities for each (last action, views so far); a state the
    training steps never saw gets the overall shares."""
    keys = pl.DataFrame({"last": np.nan_to_num(np.asarray(last_action, dtype=float)),
                         "views": np.clip(np.nan_to_num(np.asarray(session_views, dtype=float)), 0, VIEWS_CAP)})
    found = keys.with_row_index().join(shares, on=["last", "views"], how="left").sort("index")
    overall = shares.select(ACTIONS).mean().to_numpy()[0]
    return np.where(found[ACTIONS[0]].is_null().to_numpy()[:, None], overall, found.select(ACTIONS).to_numpy())


def oracle_probabilities(settings: Settings, rows: pl.DataFrame) -> np.ndarray | None:
    """(rows, actions): the simulator's probability of each next action at each step, or None on
    real data."""
    with connect(settings.warehouse_path) as con:
        if not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'truth' "
                           "AND table_name = 'session_steps'").fetchall()[0][0]:
            return None
        con.register("wanted", rows.select("session_id", "step").with_row_index("row").to_arrow())
        found = con.sql(ORACLE_SQL.format(probabilities=", ".join(f"t.p_{a}" for a in ACTIONS))).pl()
    if found.height != rows.height:
        raise ValueError(f"{rows.height - found.height} steps have no recorded truth")
    return found.select(f"p_{a}" for a in ACTIONS).to_numpy().astype(float)


def scored(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    return {"log_loss": multiclass_log_loss(labels, probabilities),
            "accuracy": accuracy(labels, probabilities.argmax(axis=1)),
            **{f"mean_p_{a}": float(probabilities[:, i].mean()) for i, a in enumerate(ACTIONS)}}


def by_step_chart(steps: np.ndarray, labels: np.ndarray, scores: dict[str, np.ndarray]) -> str:
    """Log loss by step (0 = the session opens), per system."""
    capped = np.minimum(steps, STEP_CHART)
    x = np.arange(STEP_CHART + 1)
    losses = {name: np.array([multiclass_log_loss(labels[capped == s], p[capped == s]) if (capped == s).any()
                              else np.nan for s in x]) for name, p in scores.items()}
    top = float(np.nanmax([np.nanmax(v) for v in losses.values()])) * 1.1
    return line_chart(f"log loss by step (0: the session opens; {STEP_CHART}: {STEP_CHART} or more)",
                      {name: (x / STEP_CHART, v) for name, v in losses.items()}, f"step / {STEP_CHART}",
                      "log loss", y_max=top, markers=True, palette=True)


class SessionEvent(BaseModel):
    event_type: Literal[names.NAVIGATION]
    ts: AwareDatetime


class NextActionRequest(Request):
    user_id: Id
    # the session's events so far, when no stream feeds the online store; [] a session just opened
    events: Annotated[list[SessionEvent], Field(max_length=MAX_EVENTS)] | None = None


class NextActionResponse(BaseModel):
    model: str
    user_id: int
    known_user: bool                   # false: the population's step probabilities answered
    session: Literal["request", "stream", "new"]   # where the session so far came from
    steps: int                         # navigation events in the session so far
    probabilities: dict[str, float]    # next action -> probability (leave: the session ends)
    most_likely: str


class NextActionAnswers:
    def __init__(self, models: dict[str, SavedModel], online: OnlineReader):
        self.model, self.online = BoostedModel.load(models[HEAD]), online
        self.shares = pl.DataFrame(self.model.saved.metadata["step_shares"])

    def answer(self, request: NextActionRequest) -> NextActionResponse:
        features = self.online.read(names.NEXT_ACTION_V1, {names.USER_ID: [request.user_id]})
        if request.events is not None:
            session = "request"
            realtime = session_inputs([(event.event_type, event.ts) for event in request.events])
        elif features[LAST_ACTION][0] is not None:      # counters within the view's TTL: the session goes on
            session, realtime = "stream", {f: features[f"{names.USER_REALTIME}__{f}"][0] for f in names.REALTIME_FEATURES}
        else:
            session, realtime = "new", session_inputs(None)
        features.update({f"{names.USER_REALTIME}__{f}": [value] for f, value in realtime.items()})
        known = bool(known_users(features)[0])
        p = (self.model.predict(HEAD, features)[0] if known
             else shares_for(self.shares, [realtime["last_action"]], [realtime["session_views"]])[0])
        steps = int(sum(realtime[f"session_{kind}"] for kind in ("searches", "views", "carts", "purchases")))
        return NextActionResponse(model=self.model.saved.tag, user_id=request.user_id, known_user=known,
                                  session=session, steps=steps,
                                  probabilities={a: float(p[i]) for i, a in enumerate(ACTIONS)},
                                  most_likely=ACTIONS[int(np.argmax(p))])


class NextActionTask:
    name = HEAD
    question = "What will the shopper do next in this session: search, view, cart, buy or leave?"
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
            {"event_type": "view", "ts": "2026-01-01T10:00:00Z"}, {"event_type": "cart", "ts": "2026-01-01T10:01:00Z"}]},
        doc="P(search), P(view), P(cart), P(purchase) and P(leave) next, from the session so far.")

    def build_dataset(self, config: NextActionConfig, settings: Settings) -> NextActionData:
        steps = session_steps(settings, config)
        dataset = opening(point_in_time_dataset(steps, self.feature_service, settings))
        splits = split_by_time(dataset, config.validation_weeks, config.test_weeks, horizon=SESSION_END)
        return NextActionData(splits=splits, layout=FeatureLayout.from_training(splits["train"]))

    def train(self, config: NextActionConfig, data: NextActionData) -> dict[str, lgb.Booster]:
        def dataset(frame, reference=None):
            labels = frame["next"].replace_strict(ACTIONS, range(len(ACTIONS))).to_numpy()
            return lgb.Dataset(data.layout.matrix(frame), labels, reference=reference)

        train = dataset(data.splits["train"])
        params = lgb_params(config, objective="multiclass", num_class=len(ACTIONS), metric="multi_logloss")
        return {HEAD: lgb.train(params, train, num_boost_round=config.max_rounds,
                                valid_sets=[dataset(data.splits["validation"], train)],
                                callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)])}

    def evaluate(self, config: NextActionConfig, model: dict[str, lgb.Booster], data: NextActionData,
                 settings: Settings) -> Evaluation:
        test = data.splits["test"]
        labels = test["next"].replace_strict(ACTIONS, range(len(ACTIONS))).to_numpy()
        scores = {MODEL: model[HEAD].predict(data.layout.matrix(test)),
                  BASELINE: shares_for(step_shares(data.splits["train"]), test[LAST_ACTION], test[SESSION_VIEWS])}
        oracle = oracle_probabilities(settings, test)
        if oracle is not None:
            scores[ORACLE] = oracle
        table = {name: scored(labels, p) for name, p in scores.items()}
        if oracle is not None:
            gap = table[BASELINE]["log_loss"] - table[ORACLE]["log_loss"]
            for row in table.values():
                row["skill"] = (table[BASELINE]["log_loss"] - row["log_loss"]) / gap
        gain = dict(zip(model[HEAD].feature_name(), model[HEAD].feature_importance("gain")))
        top = dict(sorted(gain.items(), key=lambda item: -item[1])[:12])
        fitted = {MODEL: {"best_iteration": model[HEAD].best_iteration,
                          **{f"{split}_steps": frame.height for split, frame in data.splits.items()}}}
        return Evaluation({}, tables={TABLE: table, "training": fitted},
                          figures=[by_step_chart(test["step"].to_numpy(), labels, scores),
                                   bar_chart("what the model splits on (total gain)", top, "{:,.0f}")])

    def save(self, config: NextActionConfig, model: dict[str, lgb.Booster], data: NextActionData, metrics: dict,
             settings: Settings) -> str:
        shares = step_shares(data.splits["train"]).to_dict(as_series=False)
        return save_task_model(self, model, HEAD, config, data.splits, data.layout, metrics, settings,
                               metadata={"step_shares": shares})
