"""Preferences: how much each user is drawn to each category, brand and price band (the facets),
from what they did there lately (``user_taste``, ``user_brand_taste``, ``user_price_taste``: views,
carts, purchases and engagements, each decayed with a month's half-life), smoothed towards the
shop's own shares so that a user with little history gets the prior:

    affinity(u, c) = (sum_t w_t m_t(u, c) + a p_c) / (sum_t w_t m_t(u) + a)

``m_t`` are the user's decayed counts of event type ``t`` for the value ``c`` of the facet
(brought to the as-of time by the days since the user's last event), ``w_t`` a weight per type,
``p_c`` the shop's share of ``c`` (the weighted counts of every user at that cut-off) and ``a``
the prior's strength, in weighted events. The affinities of a user sum to 1 in each facet.

The weights and the strength are chosen per facet on the validation cut-off by what any shop can
observe: the mean log-likelihood of where each validation user's views went in the
``horizon_days`` after it. On the test cut-off, every facet is judged the same way beside the
shop's popularity (the same order for everyone) and the plain shares of the user's views of the
last 90 days; categories are also judged against the simulator's hidden taste: per user the rank
correlation of the affinities with the true taste and NDCG@3 of the top categories (the true taste
as the gain), for users with little history and with a lot. (The simulated shoppers have no taste
for brands or price bands of their own, so there is no truth to judge those against.) A facet
the shop does not have (no categories or brands in an imported catalogue, no prices) is left out.

Served as ``POST /preferences``: per user the categories, most preferred first, with their
affinity, the top brands and the price bands (every brand of the shop is read and scored for each
user, so a request's cost grows with the number of brands); an unknown user gets the shop's
shares, flagged.
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
from feature_repo.pipeline import TASTE_FACETS
from shopml.model_store import save_artifact
from shopml.serving import UNKNOWN_USER, Endpoint, OnlineReader, SavedModel, UsersRequest
from shopml.settings import Settings
from shopml.warehouse.database import connect

from ..embeddings import vector_matrix
from ..evaluation import Evaluation
from ..kinds import Tabled
from ..labels import LabelSpec, cutoff_schedule
from ..metrics.ranking import ndcg_rows, spearman_rows
from ..oracle import hidden_user_traits
from ..task import task_labels

log = logging.getLogger(__name__)

EVENT_TYPES = tuple(count.removesuffix("_decayed") for count in names.TASTE_COUNTS)   # views, carts, purchases, engagements
DAYS_SINCE = f"{names.USER_ACTIVITY}__days_since_last_event"
HALF_LIFE_DAYS = 30                   # the taste views' decay (feature_repo/sql/user_taste.sql)
RECENT_DAYS = 90                      # a user is scored at a cut-off after an event in the days before
WEIGHT_GRID = {"views": (1.0,), "carts": (1.0, 3.0), "purchases": (1.0, 3.0, 10.0), "engagements": (1.0, 3.0)}
STRENGTH_GRID = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0)
QUALITY = "preference quality against the hidden taste"
MODEL, POPULARITY, RECENT_VIEWS = "preferences", "popularity", "views of the last 90 days"
TOP_BRANDS = 5                        # /preferences answers the top brands (every brand is read and scored)


@dataclass(frozen=True)
class Facet:
    """What affinities are counted over: the taste view, its key and its feature service."""

    name: str                         # the key: category, brand, price_band
    view: str
    service: str
    label: str                        # in the report's table names

    @property
    def counts(self) -> tuple[str, ...]:
        return tuple(f"{self.view}__{count}" for count in names.TASTE_COUNTS)

    def observed_table(self) -> str:
        return f"{self.label}: next views (observable)"


CATEGORY = Facet(names.CATEGORY, names.USER_TASTE, names.PREFERENCE_V1, "categories")
FACETS = (CATEGORY, Facet(names.BRAND, names.USER_BRAND_TASTE, names.BRAND_PREFERENCE_V1, "brands"),
          Facet(names.PRICE_BAND, names.USER_PRICE_TASTE, names.PRICE_PREFERENCE_V1, "price bands"))

USERS_SQL = f"""
SELECT DISTINCT e.user_id FROM events e
WHERE e.ts >= ?::TIMESTAMPTZ - INTERVAL {RECENT_DAYS} DAY AND e.ts < ?::TIMESTAMPTZ ORDER BY 1"""
# per (user, value of the facet): views (purchases where the shop records no views, as an imported
# order history) in the window [start, end), the observable target of the choice
VIEWS_SQL = """
SELECT e.user_id, {value} AS value, count(*) AS views FROM {events}
WHERE e.event_type = (SELECT CASE WHEN count(*) > 0 THEN 'view' ELSE 'purchase' END
                      FROM (SELECT 1 FROM events WHERE event_type = 'view' LIMIT 1))
  AND {value} IS NOT NULL AND e.ts >= ?::TIMESTAMPTZ AND e.ts < ?::TIMESTAMPTZ
GROUP BY ALL"""


def views_sql(facet: Facet) -> str:
    value, events = TASTE_FACETS[facet.view]
    return VIEWS_SQL.format(value=value, events=events)


@dataclass(frozen=True)
class PreferencesConfig:
    horizon_days: int = 30            # the validation views the choice predicts
    little_history: float = 10.0      # weighted events below which a user has little history
    # per facet: event weights (views, carts, purchases, engagements) and the prior's strength;
    # a facet left out is chosen on validation from WEIGHT_GRID and STRENGTH_GRID
    weights: dict[str, tuple[float, float, float, float]] | None = None
    prior_strength: dict[str, float] | None = None
    seed: int = 0

    def chosen(self, facet: str) -> bool:
        return facet in (self.weights or {}) and facet in (self.prior_strength or {})


@dataclass
class CutoffData:
    """One cut-off of one facet: its users (rows) by the facet's values (columns)."""

    users: np.ndarray
    counts: np.ndarray               # (users, values, EVENT_TYPES) decayed counts at the cut-off
    views_after: np.ndarray          # (users, values) views in the horizon after the cut-off
    views_before: np.ndarray         # (users, values) views in the 90 days before it


@dataclass
class PreferencesData:
    values: dict[str, list[str]]     # facet -> its values (categories, brands, price bands)
    splits: dict[str, dict[str, CutoffData]]    # facet -> validation, test
    cutoffs: dict[str, str]

    @property
    def categories(self) -> list[str]:
        return self.values.get(names.CATEGORY, [])


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
    if not seen.any():
        raise ValueError("no user viewed (or bought) anything after the cut-off: nothing to judge preferences by")
    per_user = (views[seen] * np.log(np.maximum(probabilities[seen], 1e-12))).sum(axis=1) / views[seen].sum(axis=1)
    return float(per_user.mean())


def staleness(days_since_last_event: np.ndarray) -> np.ndarray:
    """The decay of ``user_taste``'s counts between the night after the user's last event, when
    they were written, and the as-of time (1 for unknown users, whose counts are 0 anyway)."""
    days = np.nan_to_num(np.asarray(days_since_last_event, dtype=float), nan=1.0)
    return 0.5 ** ((np.clip(days, 1, None) - 1) / HALF_LIFE_DAYS)


def taste_counts(users: pl.DataFrame, values: list[str], settings: Settings, facet: Facet = CATEGORY) -> np.ndarray:
    """(rows, values, EVENT_TYPES) the decayed counts of the facet's taste view at each row's
    ``event_timestamp`` (rows of ``user_id``, ``event_timestamp``), through its feature service."""
    from ..datasets import point_in_time_dataset

    rows = users.select(names.USER_ID, names.EVENT_TIMESTAMP).join(
        pl.DataFrame({facet.name: values}), how="cross", maintain_order="left")
    features = point_in_time_dataset(rows, facet.service, settings)
    counts = features.select(facet.counts).fill_null(0).to_numpy() * staleness(features[DAYS_SINCE].to_numpy())[:, None]
    return counts.reshape(users.height, len(values), len(EVENT_TYPES))


FACET_VALUES_SQL = {names.CATEGORY: "SELECT DISTINCT category FROM items WHERE category IS NOT NULL ORDER BY 1",
                    names.BRAND: "SELECT DISTINCT brand FROM items WHERE brand IS NOT NULL ORDER BY 1"}


def facet_values(settings: Settings, facet: Facet) -> list[str]:
    """The facet's values in this shop: its categories, its brands, or the price bands where it
    has list prices (none: the facet is left out)."""
    with connect(settings.warehouse_path) as con:
        if facet.name == names.PRICE_BAND:
            return list(names.PRICE_BANDS) if con.execute("SELECT count(*) FROM prices").fetchall()[0][0] else []
        return [r[0] for r in con.execute(FACET_VALUES_SQL[facet.name]).fetchall()]


def shop_categories(settings: Settings) -> list[str]:
    return facet_values(settings, CATEGORY)


def _grid(views: pl.DataFrame, users: np.ndarray, values: list[str]) -> np.ndarray:
    """(users, values) counts from (user_id, value, views) rows; ``users`` sorted."""
    out = np.zeros((len(users), len(values)))
    wanted = views.filter(pl.col(names.USER_ID).is_in(users.tolist()) & pl.col("value").is_in(values))
    row = np.searchsorted(users, wanted[names.USER_ID].to_numpy())
    column = wanted["value"].replace_strict(values, list(range(len(values)))).to_numpy()
    out[row, column] = wanted["views"].to_numpy()
    return out


def hidden_taste(settings: Settings, users: np.ndarray, categories: list[str]) -> np.ndarray | None:
    """(users, categories) the simulator's taste, None on imported data."""
    from shopml.warehouse.simulator.vocabulary import CATEGORIES

    found = hidden_user_traits(settings, users, "t.taste")
    if found is None:
        return None
    return vector_matrix(found["taste"])[:, [CATEGORIES.index(c) for c in categories]]


def online_taste_counts(online: OnlineReader, users: list[int], values: list[str],
                        facet: Facet = CATEGORY) -> tuple[np.ndarray, np.ndarray]:
    """The online store's counts of the facet's taste view for these users, brought to now:
    (users, values, EVENT_TYPES), and per user whether any row was found."""
    n = len(values)
    read = online.read(facet.service, {names.USER_ID: np.repeat(users, n).tolist(), facet.name: list(values) * len(users)})
    counts = np.column_stack([np.asarray(read[c], dtype=float) for c in facet.counts]).reshape(len(users), n, -1)
    since = np.asarray(read[DAYS_SINCE], dtype=float).reshape(len(users), n)[:, 0]
    return np.nan_to_num(counts) * staleness(since)[:, None, None], ~np.isnan(counts).all(axis=(1, 2))


class PreferenceScore(BaseModel):
    category: str
    affinity: float


class ValueScore(BaseModel):
    value: str                          # a brand, or a price band (budget, mid, premium)
    affinity: float


class UserPreferences(BaseModel):
    user_id: int
    known_user: bool
    categories: list[PreferenceScore]   # most preferred first; the shop's shares for an unknown user
    brands: list[ValueScore]            # the top brands, most preferred first (affinities over every brand)
    price_bands: list[ValueScore]       # most preferred first


class PreferencesResponse(BaseModel):
    model: str
    users: list[UserPreferences]


@dataclass
class ServedFacet:
    """One facet as served: its values, chosen weights and strength, and the shop's shares."""

    facet: Facet
    values: list[str]
    weights: np.ndarray
    strength: float
    prior: np.ndarray

    def scores(self, online: OnlineReader, users: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        counts, known = online_taste_counts(online, users, self.values, self.facet)
        scores = affinities(counts, self.weights, self.strength, self.prior)
        scores[~known] = self.prior
        return scores, counts, known

    def ranked(self, scores: np.ndarray, top: int | None = None) -> list[ValueScore]:
        return [ValueScore(value=self.values[j], affinity=round(float(scores[j]), 6)) for j in np.argsort(-scores)[:top]]


class PreferencesAnswers:
    def __init__(self, models: dict[str, SavedModel], online: OnlineReader):
        saved = models["preferences"]
        self.online, self.tag = online, saved.tag
        config, chosen = saved.metadata["config"], saved.metadata["facets"]
        self.facets = {f.name: ServedFacet(f, chosen[f.name]["values"], np.asarray(config["weights"][f.name], dtype=float),
                                           float(config["prior_strength"][f.name]), np.asarray(chosen[f.name]["prior"]))
                       for f in FACETS if f.name in chosen}
        category = self.facets.get(names.CATEGORY)
        self.categories = category.values if category else []
        self.prior = category.prior if category else np.zeros(0)

    def scores(self, users: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per user: the category affinities (the prior for an unknown user), the decayed counts
        brought to now (users, categories, EVENT_TYPES) and whether the user is known (a shop
        without categories: empty, and unknown)."""
        if names.CATEGORY not in self.facets:
            return np.zeros((len(users), 0)), np.zeros((len(users), 0, len(EVENT_TYPES))), np.zeros(len(users), bool)
        return self.facets[names.CATEGORY].scores(self.online, users)

    def answer(self, request: UsersRequest) -> PreferencesResponse:
        users = request.user_ids
        ranked, known = {}, np.zeros(len(users), dtype=bool)
        for name, served in self.facets.items():
            scores, _, found = served.scores(self.online, users)
            ranked[name] = [served.ranked(s, TOP_BRANDS if name == names.BRAND else None) for s in scores]
            known |= found
        none = [[] for _ in users]
        return PreferencesResponse(model=self.tag, users=[
            UserPreferences(user_id=user, known_user=bool(k),
                            categories=[PreferenceScore(category=v.value, affinity=v.affinity) for v in c],
                            brands=b, price_bands=p)
            for user, k, c, b, p in zip(users, known, ranked.get(names.CATEGORY, none), ranked.get(names.BRAND, none),
                                        ranked.get(names.PRICE_BAND, none))])


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
        doc=f"Per user, the categories most preferred first, with their affinity (they sum to 1), the top "
            f"{TOP_BRANDS} brands and the price bands.")

    def build_dataset(self, config: PreferencesConfig, settings: Settings) -> PreferencesData:
        values = {f.name: v for f in FACETS if (v := facet_values(settings, f))}
        if not values:
            raise ValueError("the warehouse has no categories, brands or list prices to count preferences over")
        schedule = cutoff_schedule(settings.warehouse_path, LabelSpec(config.horizon_days, train_cutoffs=1,
                                                                      validation_cutoffs=1, test_cutoffs=1))
        splits, cutoffs = {f: {} for f in values}, {}
        for split in ("validation", "test"):
            cutoff = schedule[split][-1]
            cutoffs[split] = cutoff.isoformat()
            with connect(settings.warehouse_path) as con:
                users = np.array([r[0] for r in con.execute(USERS_SQL, [cutoff, cutoff]).fetchall()], dtype=np.int64)
            at = pl.DataFrame({names.USER_ID: users, names.EVENT_TIMESTAMP: [cutoff] * len(users)})
            for facet in (f for f in FACETS if f.name in values):
                with connect(settings.warehouse_path) as con:
                    after = con.sql(views_sql(facet), params=[cutoff, cutoff + timedelta(days=config.horizon_days)]).pl()
                    before = con.sql(views_sql(facet), params=[cutoff - timedelta(days=RECENT_DAYS), cutoff]).pl()
                splits[facet.name][split] = CutoffData(users, taste_counts(at, values[facet.name], settings, facet),
                                                       _grid(after, users, values[facet.name]),
                                                       _grid(before, users, values[facet.name]))
            log.info("preferences: %s cut-off %s, %d users x %s", split, cutoff.date(), len(users),
                     ", ".join(f"{len(v)} {f}" for f, v in values.items()))
        return PreferencesData(values, splits, cutoffs)

    def train(self, config: PreferencesConfig, data: PreferencesData) -> dict:
        """Nothing is fitted beyond the choice (``choose``): the model is its weights, strength
        and the shop's shares, which are read at each cut-off."""
        return {}

    def choose(self, config: PreferencesConfig, model: dict, data: PreferencesData,
               settings: Settings) -> PreferencesConfig:
        weights, strengths = dict(config.weights or {}), dict(config.prior_strength or {})
        for facet, split in data.splits.items():
            if config.chosen(facet):
                continue
            validation = split["validation"]
            grid = ([tuple(w) for w in itertools.product(*(WEIGHT_GRID[t] for t in EVENT_TYPES))]
                    if facet not in weights else [tuple(weights[facet])])
            grid_strengths = STRENGTH_GRID if facet not in strengths else (strengths[facet],)
            scored = {(w, a): mean_log_likelihood(affinities(validation.counts, w, a, shop_shares(validation.counts, w)),
                                                  validation.views_after)
                      for w in grid for a in grid_strengths}
            weights[facet], strengths[facet] = max(scored, key=scored.get)
            log.info("preferences: %s chosen on %d validation users: weights %s, prior strength %g (log-likelihood "
                     "%.4f)", facet, len(validation.users), weights[facet], strengths[facet],
                     scored[(weights[facet], strengths[facet])])
        return replace(config, weights=weights, prior_strength=strengths)

    def evaluate(self, config: PreferencesConfig, model: dict, data: PreferencesData,
                 settings: Settings) -> Evaluation:
        tables, chosen = {}, {}
        for facet in (f for f in FACETS if f.name in data.splits):
            test, weights, strength = data.splits[facet.name]["test"], config.weights[facet.name], \
                config.prior_strength[facet.name]
            prior = shop_shares(test.counts, weights)
            scorers = {
                MODEL: affinities(test.counts, weights, strength, prior),
                POPULARITY: np.broadcast_to(prior, test.views_after.shape),
                RECENT_VIEWS: test.views_before / np.maximum(test.views_before.sum(axis=1, keepdims=True), 1),
            }
            tables[facet.observed_table()] = {
                name: {"log_likelihood": mean_log_likelihood(np.clip(p, 1e-6, None), test.views_after)}
                for name, p in scorers.items()}
            chosen[facet.name] = {**dict(zip(EVENT_TYPES, weights)), "prior_strength": strength,
                                  "validation_users": len(data.splits[facet.name]["validation"].users)}
            if facet is CATEGORY:
                taste = hidden_taste(settings, test.users, data.categories)
                if taste is not None:
                    tables[QUALITY] = taste_quality(test, scorers, taste, weights, config.little_history)
        tables["chosen on validation"] = chosen
        return Evaluation(heads={}, tables=tables)

    def save(self, config: PreferencesConfig, model: dict, data: PreferencesData, metrics: dict,
             settings: Settings) -> str:
        facets = {facet: {"values": data.values[facet],
                          "prior": shop_shares(split["test"].counts, config.weights[facet]).tolist()}
                  for facet, split in data.splits.items()}
        metadata = {"config": {**config.__dict__, "weights": {f: list(w) for f, w in config.weights.items()}},
                    "metrics": metrics, "cutoffs": data.cutoffs, "categories": data.categories, "facets": facets}
        return save_artifact(self.name, task_labels(self), metadata,
                             settings, write=lambda folder: None)


def taste_quality(test: CutoffData, scorers: dict[str, np.ndarray], taste: np.ndarray, weights,
                  little_history: float) -> dict[str, dict]:
    """Per scorer, rank correlation and NDCG@3 against the hidden taste, for every user and for
    those with little and a lot of history."""
    history = (test.counts @ np.asarray(weights)).sum(axis=1)
    groups = {"": np.ones(len(history), dtype=bool), "little history ": history < little_history,
              "a lot of history ": history >= little_history}
    return {name: {
        **{f"{label}users": int(mask.sum()) for label, mask in groups.items() if label},
        **{f"{label}rank_correlation": spearman_rows(taste[mask], p[mask]) for label, mask in groups.items()},
        **{f"{label}ndcg_at_3": ndcg_rows(taste[mask], p[mask], 3) for label, mask in groups.items()},
    } for name, p in scorers.items()}
