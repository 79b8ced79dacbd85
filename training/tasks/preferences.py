"""Preferences: how much each user is drawn to each category, from what they did in it lately
(``user_taste``: views, carts, purchases and engagements, each decayed with a month's half-life),
smoothed towards the shop's own shares so that a user with little history gets the prior:

    affinity(u, c) = (sum_t w_t m_t(u, c) + a p_c) / (sum_t w_t m_t(u) + a)

``m_t`` are the user's decayed counts of event type ``t`` (brought to the as-of time by the days
since the user's last event), ``w_t`` a weight per type, ``p_c`` the shop's share of category
``c`` (the weighted counts of every user at that cut-off) and ``a`` the prior's strength, in
weighted events. The affinities of a user sum to 1.

The weights and the strength are chosen on the validation cut-off by what any shop can observe:
the mean log-likelihood of where each validation user's views went in the ``horizon_days`` after
it. The test cut-off is judged against the simulator's hidden taste: per user the rank
correlation of the affinities with the true taste and NDCG@3 of the top categories (the true
taste as the gain), for users with little history and with a lot, beside the shop's popularity
(the same order for everyone) and the plain shares of the user's views of the last 90 days.

Served as ``POST /preferences``: per user the categories, most preferred first, with their
affinity; an unknown user gets the shop's shares, flagged.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, replace
from datetime import timedelta

import numpy as np
import polars as pl
from pydantic import BaseModel

from feature_repo.definitions import names
from shopml.model_store import save_artifact
from shopml.serving import UNKNOWN_USER, Endpoint, OnlineReader, SavedModel, UsersRequest
from shopml.settings import Settings
from shopml.warehouse.database import connect

from ..evaluation import Evaluation
from ..kinds import Tabled
from ..labels import LabelSpec, cutoff_schedule
from ..metrics.ranking import ndcg_rows, spearman_rows
from ..oracle import hidden_user_traits
from ..task import task_labels

log = logging.getLogger(__name__)

EVENT_TYPES = ("views", "carts", "purchases", "engagements")
COUNTS = tuple(f"{names.USER_TASTE}__{t}_decayed" for t in EVENT_TYPES)
DAYS_SINCE = f"{names.USER_ACTIVITY}__days_since_last_event"
HALF_LIFE_DAYS = 30                   # user_taste's decay (feature_repo/sql/user_taste.sql)
RECENT_DAYS = 90                      # a user is scored at a cut-off after an event in the days before
WEIGHT_GRID = {"views": (1.0,), "carts": (1.0, 3.0), "purchases": (1.0, 3.0, 10.0), "engagements": (1.0, 3.0)}
STRENGTH_GRID = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
QUALITY = "preference quality against the hidden taste"
MODEL, POPULARITY, RECENT_VIEWS = "preferences", "popularity", "views of the last 90 days"

USERS_SQL = f"""
SELECT DISTINCT e.user_id FROM events e
WHERE e.ts >= ?::TIMESTAMPTZ - INTERVAL {RECENT_DAYS} DAY AND e.ts < ?::TIMESTAMPTZ ORDER BY 1"""
# per (user, category): views in the window [start, end), the observable target of the choice
VIEWS_SQL = """
SELECT e.user_id, i.category, count(*) AS views FROM events e JOIN items i USING (item_id)
WHERE e.event_type = 'view' AND i.category IS NOT NULL AND e.ts >= ?::TIMESTAMPTZ AND e.ts < ?::TIMESTAMPTZ
GROUP BY ALL"""


@dataclass(frozen=True)
class PreferencesConfig:
    horizon_days: int = 30            # the validation views the choice predicts
    little_history: float = 10.0      # weighted events below which a user has little history
    # event weights (views, carts, purchases, engagements) and the prior's strength; None: chosen
    # on validation from WEIGHT_GRID and STRENGTH_GRID
    weights: tuple[float, float, float, float] | None = None
    prior_strength: float | None = None
    seed: int = 0


@dataclass
class CutoffData:
    """One cut-off: its users (rows) by categories (columns)."""

    users: np.ndarray
    counts: np.ndarray               # (users, categories, EVENT_TYPES) decayed counts at the cut-off
    views_after: np.ndarray          # (users, categories) views in the horizon after the cut-off
    views_before: np.ndarray         # (users, categories) views in the 90 days before it


@dataclass
class PreferencesData:
    categories: list[str]
    splits: dict[str, CutoffData]    # validation, test
    cutoffs: dict[str, str]


def affinities(counts: np.ndarray, weights, strength: float, prior: np.ndarray) -> np.ndarray:
    """(users, categories) smoothed shares: the weighted counts plus ``strength`` times ``prior``."""
    weighted = counts @ np.asarray(weights, dtype=float)
    return (weighted + strength * prior) / (weighted.sum(axis=1, keepdims=True) + strength)


def shop_shares(counts: np.ndarray, weights) -> np.ndarray:
    """The shop's share of each category: every user's weighted counts, pooled."""
    pooled = (counts @ np.asarray(weights, dtype=float)).sum(axis=0) + 1e-9
    return pooled / pooled.sum()


def mean_log_likelihood(probabilities: np.ndarray, views: np.ndarray) -> float:
    """Per view after the cut-off, the log of the affinity of its category, averaged over users
    (each user's views weigh as one, so the heaviest viewers do not decide)."""
    seen = views.sum(axis=1) > 0
    per_user = (views[seen] * np.log(np.maximum(probabilities[seen], 1e-12))).sum(axis=1) / views[seen].sum(axis=1)
    return float(per_user.mean())


def staleness(days_since_last_event: np.ndarray) -> np.ndarray:
    """The decay of ``user_taste``'s counts between the night after the user's last event, when
    they were written, and the as-of time (1 for unknown users, whose counts are 0 anyway)."""
    days = np.nan_to_num(np.asarray(days_since_last_event, dtype=float), nan=1.0)
    return 0.5 ** ((np.clip(days, 1, None) - 1) / HALF_LIFE_DAYS)


def taste_counts(users: pl.DataFrame, categories: list[str], settings: Settings) -> np.ndarray:
    """(rows, categories, EVENT_TYPES) the decayed counts of ``user_taste`` at each row's
    ``event_timestamp`` (rows of ``user_id``, ``event_timestamp``), through ``preference_v1``."""
    from ..datasets import point_in_time_dataset

    rows = users.select(names.USER_ID, names.EVENT_TIMESTAMP).join(
        pl.DataFrame({names.CATEGORY: categories}), how="cross", maintain_order="left")
    features = point_in_time_dataset(rows, names.PREFERENCE_V1, settings)
    counts = features.select(COUNTS).fill_null(0).to_numpy() * staleness(features[DAYS_SINCE].to_numpy())[:, None]
    return counts.reshape(users.height, len(categories), len(EVENT_TYPES))


def shop_categories(settings: Settings) -> list[str]:
    with connect(settings.warehouse_path) as con:
        return [r[0] for r in con.execute(
            "SELECT DISTINCT category FROM items WHERE category IS NOT NULL ORDER BY 1").fetchall()]


def _grid(views: pl.DataFrame, users: np.ndarray, categories: list[str]) -> np.ndarray:
    """(users, categories) counts from (user_id, category, views) rows; ``users`` sorted."""
    out = np.zeros((len(users), len(categories)))
    wanted = views.filter(pl.col(names.USER_ID).is_in(users.tolist()) & pl.col(names.CATEGORY).is_in(categories))
    row = np.searchsorted(users, wanted[names.USER_ID].to_numpy())
    column = wanted[names.CATEGORY].replace_strict(categories, list(range(len(categories)))).to_numpy()
    out[row, column] = wanted["views"].to_numpy()
    return out


def hidden_taste(settings: Settings, users: np.ndarray, categories: list[str]) -> np.ndarray | None:
    """(users, categories) the simulator's taste, None on imported data."""
    from shopml.warehouse.simulator.vocabulary import CATEGORIES

    found = hidden_user_traits(settings, users, "t.taste")
    if found is None:
        return None
    return np.vstack(found["taste"].to_list())[:, [CATEGORIES.index(c) for c in categories]]


def online_taste_counts(online: OnlineReader, users: list[int], categories: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The online store's ``user_taste`` counts of these users, brought to now: (users,
    categories, EVENT_TYPES), and per user whether any row was found."""
    n = len(categories)
    read = online.read(names.PREFERENCE_V1, {names.USER_ID: np.repeat(users, n).tolist(),
                                             names.CATEGORY: list(categories) * len(users)})
    counts = np.column_stack([np.asarray(read[c], dtype=float) for c in COUNTS]).reshape(len(users), n, -1)
    since = np.asarray(read[DAYS_SINCE], dtype=float).reshape(len(users), n)[:, 0]
    return np.nan_to_num(counts) * staleness(since)[:, None, None], ~np.isnan(counts).all(axis=(1, 2))


class PreferenceScore(BaseModel):
    category: str
    affinity: float


class UserPreferences(BaseModel):
    user_id: int
    known_user: bool
    categories: list[PreferenceScore]   # most preferred first; the shop's shares for an unknown user


class PreferencesResponse(BaseModel):
    model: str
    users: list[UserPreferences]


class PreferencesAnswers:
    def __init__(self, models: dict[str, SavedModel], online: OnlineReader):
        saved = models["preferences"]
        self.online, self.tag = online, saved.tag
        config = saved.metadata["config"]
        self.weights, self.strength = np.asarray(config["weights"], dtype=float), float(config["prior_strength"])
        self.categories, self.prior = saved.metadata["categories"], np.asarray(saved.metadata["prior"])

    def scores(self, users: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per user: the affinities (the prior for an unknown user), the decayed counts brought to
        now (users, categories, EVENT_TYPES) and whether the user is known."""
        counts, known = online_taste_counts(self.online, users, self.categories)
        scores = affinities(counts, self.weights, self.strength, self.prior)
        scores[~known] = self.prior
        return scores, counts, known

    def answer(self, request: UsersRequest) -> PreferencesResponse:
        users = request.user_ids
        scores, _, known = self.scores(users)
        return PreferencesResponse(model=self.tag, users=[
            UserPreferences(user_id=user, known_user=bool(k), categories=[
                PreferenceScore(category=self.categories[j], affinity=round(float(s[j]), 6)) for j in np.argsort(-s)])
            for user, k, s in zip(users, known, scores)])


class PreferencesTask:
    name = "preferences"
    question = "What does each user prefer?"
    family = "users"
    entity = "user"
    feature_service = names.PREFERENCE_V1
    config_type = PreferencesConfig
    evaluation = Tabled("ranking", QUALITY, model=MODEL, reference=POPULARITY, metric="ndcg_at_3",
                        label="NDCG@3 vs true taste")
    endpoint = Endpoint(
        path="/preferences", request=UsersRequest, response=PreferencesResponse, models=("preferences",),
        start=PreferencesAnswers, example=lambda shop: {"user_ids": [shop.active_user, UNKNOWN_USER]},
        doc="Per user, the categories most preferred first, with their affinity (they sum to 1).")

    def build_dataset(self, config: PreferencesConfig, settings: Settings) -> PreferencesData:
        categories = shop_categories(settings)
        if not categories:
            raise ValueError("the warehouse has no categorised items")
        schedule = cutoff_schedule(settings.warehouse_path, LabelSpec(config.horizon_days, train_cutoffs=1,
                                                                      validation_cutoffs=1, test_cutoffs=1))
        splits, cutoffs = {}, {}
        for split in ("validation", "test"):
            cutoff = schedule[split][-1]
            cutoffs[split] = cutoff.isoformat()
            with connect(settings.warehouse_path) as con:
                users = np.array([r[0] for r in con.execute(USERS_SQL, [cutoff, cutoff]).fetchall()], dtype=np.int64)
                after = con.sql(VIEWS_SQL, params=[cutoff, cutoff + timedelta(days=config.horizon_days)]).pl()
                before = con.sql(VIEWS_SQL, params=[cutoff - timedelta(days=RECENT_DAYS), cutoff]).pl()
            counts = taste_counts(pl.DataFrame({names.USER_ID: users, names.EVENT_TIMESTAMP: [cutoff] * len(users)}),
                                  categories, settings)
            splits[split] = CutoffData(users, counts, _grid(after, users, categories), _grid(before, users, categories))
            log.info("preferences: %s cut-off %s, %d users x %d categories", split, cutoff.date(), len(users),
                     len(categories))
        return PreferencesData(categories, splits, cutoffs)

    def train(self, config: PreferencesConfig, data: PreferencesData) -> dict:
        """Nothing is fitted beyond the choice (``choose``): the model is its weights, strength
        and the shop's shares, which are read at each cut-off."""
        return {}

    def choose(self, config: PreferencesConfig, model: dict, data: PreferencesData,
               settings: Settings) -> PreferencesConfig:
        if config.weights is not None and config.prior_strength is not None:
            return config
        validation = data.splits["validation"]
        grid = [tuple(w) for w in itertools.product(*(WEIGHT_GRID[t] for t in EVENT_TYPES))] \
            if config.weights is None else [config.weights]
        strengths = STRENGTH_GRID if config.prior_strength is None else (config.prior_strength,)
        scored = {(w, a): mean_log_likelihood(affinities(validation.counts, w, a, shop_shares(validation.counts, w)),
                                              validation.views_after)
                  for w in grid for a in strengths}
        weights, strength = max(scored, key=scored.get)
        log.info("preferences: chosen on %d validation users: weights %s, prior strength %g (log-likelihood %.4f)",
                 len(validation.users), weights, strength, scored[(weights, strength)])
        return replace(config, weights=weights, prior_strength=strength)

    def evaluate(self, config: PreferencesConfig, model: dict, data: PreferencesData,
                 settings: Settings) -> Evaluation:
        test = data.splits["test"]
        prior = shop_shares(test.counts, config.weights)
        scorers = {
            MODEL: affinities(test.counts, config.weights, config.prior_strength, prior),
            POPULARITY: np.broadcast_to(prior, test.views_after.shape),
            RECENT_VIEWS: test.views_before / np.maximum(test.views_before.sum(axis=1, keepdims=True), 1),
        }
        tables = {"next views (observable)": {
            name: {"log_likelihood": mean_log_likelihood(np.clip(p, 1e-6, None), test.views_after)}
            for name, p in scorers.items()}}
        taste = hidden_taste(settings, test.users, data.categories)
        if taste is not None:
            history = (test.counts @ np.asarray(config.weights)).sum(axis=1)
            groups = {"": np.ones(len(history), dtype=bool),
                      "little history ": history < config.little_history,
                      "a lot of history ": history >= config.little_history}
            tables[QUALITY] = {name: {
                **{f"{label}users": int(mask.sum()) for label, mask in groups.items() if label},
                **{f"{label}rank_correlation": spearman_rows(taste[mask], p[mask]) for label, mask in groups.items()},
                **{f"{label}ndcg_at_3": ndcg_rows(taste[mask], p[mask], 3) for label, mask in groups.items()},
            } for name, p in scorers.items()}
        tables["chosen on validation"] = {MODEL: {**dict(zip(EVENT_TYPES, config.weights)),
                                                  "prior_strength": config.prior_strength,
                                                  "validation_users": len(data.splits["validation"].users)}}
        return Evaluation(heads={}, tables=tables)

    def save(self, config: PreferencesConfig, model: dict, data: PreferencesData, metrics: dict,
             settings: Settings) -> str:
        test = data.splits["test"]
        prior = shop_shares(test.counts, config.weights)
        metadata = {"config": {**config.__dict__, "weights": list(config.weights)}, "metrics": metrics,
                    "cutoffs": data.cutoffs, "categories": data.categories, "prior": prior.tolist()}
        return save_artifact(self.name, task_labels(self), metadata,
                             settings, write=lambda folder: None)
