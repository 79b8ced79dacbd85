"""Preferences on the tiny shop: the features are what the events say, decayed; the affinities are
smoothed shares that sum to 1; the choice is made on validation per facet (categories, brands,
price bands); against the hidden taste they beat the shop's popularity, each facet beats it on the
next views, and the saved model answers for known and unknown users."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from feature_repo.definitions import names
from feature_repo.pipeline import TASTE_FACETS
from shopml.settings import Settings
from training.config import resolve_config
from training.tasks.preferences import (FACETS, MODEL, POPULARITY, QUALITY, STRENGTH_GRID, TOP_BRANDS, WEIGHT_GRID,
                                        PreferencesTask, affinities, shop_shares)

QUICK = ["horizon_days=7"]          # the tiny shop is 70 days long


@pytest.fixture(scope="module")
def settings(model_home) -> Settings:
    return model_home


@pytest.mark.parametrize("view", list(TASTE_FACETS))
def test_the_decayed_counts_are_the_events_weighed_by_their_age(settings, view):
    """A row of a taste view equals a recount from the events before its day with that value of
    the facet (category, brand, price band), each weighed by 0.5 ** (age in days / 30)."""
    facet = names.FEATURES[view][0][1]
    value, events = TASTE_FACETS[view]
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"ATTACH '{settings.warehouse_path}' AS w (READ_ONLY)")
        con.execute("USE w")
        mismatches = con.execute(f"""
            WITH sample AS (
                SELECT * FROM read_parquet('{settings.features_dir / f"{view}.parquet"}')
                ORDER BY hash(user_id, {facet}, event_timestamp) LIMIT 300),
            valued AS (SELECT e.user_id, e.ts, {value} AS value FROM {events} WHERE e.event_type = 'view'),
            recount AS (
                SELECT s.user_id, s.{facet}, s.event_timestamp,
                       coalesce(sum(0.5 ** (datediff('day', CAST(v.ts AS DATE) + 1, CAST(s.event_timestamp AS DATE)) / 30)), 0) AS views
                FROM sample s
                LEFT JOIN valued v ON v.user_id = s.user_id AND v.value = s.{facet}
                 AND CAST(v.ts AS DATE) + 1 <= CAST(s.event_timestamp AS DATE)
                GROUP BY ALL)
            SELECT count(*) FROM sample s JOIN recount r USING (user_id, {facet}, event_timestamp)
            WHERE abs(s.views_decayed - r.views) > 1e-9 * greatest(1, r.views)""").fetchall()[0][0]
    assert mismatches == 0


def test_affinities_are_smoothed_shares():
    counts = np.array([[[2, 0, 0, 0], [0, 0, 0, 0]], [[0, 0, 0, 0], [0, 0, 0, 0]]], dtype=float)
    weights, prior = (1, 3, 10, 3), shop_shares(counts, (1, 3, 10, 3))
    scores = affinities(counts, weights, 2.0, np.array([0.25, 0.75]))
    np.testing.assert_allclose(scores.sum(axis=1), 1.0)
    np.testing.assert_allclose(scores[0], [(2 + 0.5) / 4, 1.5 / 4])        # two views, then the prior
    np.testing.assert_allclose(scores[1], [0.25, 0.75])                     # no history: the prior
    np.testing.assert_allclose(prior, [1.0, 0.0], atol=1e-6)


@pytest.mark.slow
def test_preferences_beat_popularity_against_the_hidden_taste_and_serve(settings):
    from shopml.model_store import use_model_store
    from training.task import run

    task = PreferencesTask()
    result = run(task, resolve_config(task.config_type, overrides=QUICK), settings)
    quality = result.metrics[QUALITY]
    model, popularity = quality[MODEL], quality[POPULARITY]
    for label in ("", "a lot of history "):
        assert model[f"{label}ndcg_at_3"] > popularity[f"{label}ndcg_at_3"] + 0.05, label
        assert model[f"{label}rank_correlation"] > popularity[f"{label}rank_correlation"] + 0.1, label
    assert model["little history users"] > 0 and model["a lot of history users"] > 0
    for facet in FACETS:
        observed = result.metrics[facet.observed_table()]
        lead = observed[MODEL]["log_likelihood"] - observed[POPULARITY]["log_likelihood"]
        # categories and brands beat the shop's shares; simulated shoppers have no taste for price bands of
        # their own (a band's views follow the catalogue), so there the model can only match them
        assert lead > 0 if facet.name != names.PRICE_BAND else lead > -0.01, (facet.name, lead)
        chosen = result.metrics["chosen on validation"][facet.name]
        assert all(chosen[t] in grid for t, grid in WEIGHT_GRID.items()) and chosen["prior_strength"] in STRENGTH_GRID

    use_model_store(settings)
    import bentoml

    from services.online import OnlineFeatures
    from services.runtime import load_model
    from services.server import home_clock

    answers = task.endpoint.start({"preferences": load_model(bentoml.models.BentoModel(result.tag))},
                                  OnlineFeatures(settings, clock=home_clock(settings)))
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        active = con.execute("SELECT user_id FROM events GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchall()[0][0]
    known, unknown = answers.answer(task.endpoint.request(user_ids=[active, -4])).users
    assert known.known_user and not unknown.known_user
    for user in (known, unknown):
        affinity = [c.affinity for c in user.categories]
        assert affinity == sorted(affinity, reverse=True) and sum(affinity) == pytest.approx(1.0, abs=1e-4)
    assert [c.affinity for c in unknown.categories] != [c.affinity for c in known.categories]
    assert len(known.brands) == TOP_BRANDS and {b.value for b in known.price_bands} == set(names.PRICE_BANDS)
    assert sum(b.affinity for b in known.price_bands) == pytest.approx(1.0, abs=1e-4)
