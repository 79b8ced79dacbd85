"""The demand tasks on the tiny shop: item_demand is what the events and prices say before each
snapshot; the panel holds every unit sold; the task beats seasonal naive per item and per
category, writes the latest forecast of every item on sale, and the saved model serves it; the
price elasticities stand beside their truth."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from feature_repo.definitions import names
from shopml.settings import Settings
from training.config import resolve_config
from training.forecast_baselines import SEASONAL_NAIVE
from training.sales import load_sales_panel
from training.tasks.forecast import CATEGORIES, ITEMS, MODEL, ORACLE, ForecastTask

# the tiny shop is 70 days long: one-week horizons, one validation and one test origin
QUICK = ["horizon_days=7", "validation_origins=1", "test_origins=1", "min_history_days=14"]


@pytest.fixture(scope="module")
def settings(model_home) -> Settings:
    return model_home


def test_item_demand_counts_only_the_days_before_its_snapshot(settings):
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"ATTACH '{settings.warehouse_path}' AS w (READ_ONLY)")
        mismatches = con.execute(f"""
            WITH sample AS (
                SELECT * FROM read_parquet('{settings.features_dir / f"{names.ITEM_DEMAND}.parquet"}')
                ORDER BY hash(item_id, event_timestamp) LIMIT 300),
            recount AS (
                SELECT s.item_id, s.event_timestamp,
                       coalesce(sum(e.quantity) FILTER (WHERE e.ts >= s.event_timestamp - INTERVAL 7 DAY), 0) AS units_7d,
                       coalesce(sum(e.quantity), 0) AS units_28d
                FROM sample s LEFT JOIN w.events e
                  ON e.item_id = s.item_id AND e.event_type = 'purchase'
                 AND e.ts >= s.event_timestamp - INTERVAL 28 DAY AND e.ts < s.event_timestamp
                GROUP BY ALL)
            SELECT count(*) FROM sample s JOIN recount r USING (item_id, event_timestamp)
            WHERE s.units_7d <> r.units_7d OR s.units_28d <> r.units_28d""").fetchall()[0][0]
    assert mismatches == 0


def test_the_panel_holds_every_unit_sold(settings):
    panel = load_sales_panel(settings.warehouse_path)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        sold = con.execute("SELECT sum(quantity) FROM events WHERE event_type = 'purchase'").fetchall()[0][0]
        items = con.execute("SELECT count(*) FROM items").fetchall()[0][0]
    assert panel.units.sum() == sold and len(panel.item_ids) == items


@pytest.mark.slow
def test_the_forecast_beats_seasonal_naive_and_serves_the_latest_forecast(settings):
    import polars as pl

    from shopml.model_store import use_model_store
    from training.task import run

    task = ForecastTask()
    result = run(task, resolve_config(task.config_type, overrides=QUICK), settings)
    items, categories = result.metrics[ITEMS], result.metrics[CATEGORIES]
    assert items[MODEL]["rmsse"] < items[SEASONAL_NAIVE]["rmsse"]
    assert categories[MODEL]["rmsse"] < categories[SEASONAL_NAIVE]["rmsse"]
    assert ORACLE in categories and items[MODEL]["coverage"] >= 0.8

    written = pl.read_parquet(settings.features_dir / f"{names.ITEM_FORECAST}.parquet")
    panel = load_sales_panel(settings.warehouse_path)
    assert written.height == int(panel.on_sale(panel.days).sum())
    assert written["forecast_units"].list.len().unique().to_list() == [7]
    units, lower, upper = (np.vstack(written[c].to_list()) for c in names.FORECAST_FEATURES[1:])
    assert np.all(lower <= upper) and np.all(units >= 0)

    use_model_store(settings)
    import bentoml

    from feature_repo.store import materialize
    from services.online import OnlineFeatures
    from services.runtime import load_model
    from services.server import home_clock

    materialize(settings)
    answers = task.endpoint.start({"forecast": load_model(bentoml.models.BentoModel(result.tag))},
                                  OnlineFeatures(settings, clock=home_clock(settings)))
    item = int(written.sort(pl.col("forecast_units").list.sum(), descending=True)[names.ITEM_ID][0])
    response = answers.answer(task.endpoint.request(item_ids=[item, 10**12], horizon=28))
    assert response.horizon == 7 and response.origin == panel.day(panel.days).isoformat()
    known, unknown = response.forecasts
    assert known.known_item and len(known.units) == 7 and known.total_units == pytest.approx(sum(known.units), abs=1e-3)
    assert not unknown.known_item and unknown.units == [] and unknown.total_units is None


def test_price_elasticity_runs_on_the_tiny_shop_beside_its_truth(settings):
    from shopml.model_store import artifact_folder
    from training.tasks.price_elasticity import (AGAINST_TRUTH, CATEGORIES, DIFFERENCES, TEST_WHATIF, VALIDATION_WHATIF,
                                                 PriceElasticityTask)
    from training.task import run

    task = PriceElasticityTask()
    result = run(task, resolve_config(task.config_type, overrides=["whatif_days=7", "whatif_seeds=3"]), settings)
    per_category = result.metrics[CATEGORIES]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        truth = dict(con.execute("SELECT category, avg(price_elasticity) FROM truth.category_days "
                                 "WHERE day BETWEEN (SELECT min(ts)::DATE FROM events) AND "
                                 "(SELECT max(ts)::DATE FROM events) GROUP BY 1").fetchall())
    assert set(per_category) == set(truth)
    for category, row in per_category.items():
        assert row["truth"] == pytest.approx(truth[category]) and row["truth"] < 0
        assert np.isfinite(row["estimate"]) and row["se"] > 0 and row["low"] < row["estimate"] < row["high"]
    assert np.isfinite(result.metrics[AGAINST_TRUTH][DIFFERENCES]["mae"])
    _, metadata = artifact_folder(result.tag, settings)
    assert set(metadata["elasticities"]) == set(truth)
    assert isinstance(metadata["config"]["allow_rises"], bool)          # chosen in the validation what-if
    assert {TEST_WHATIF, VALIDATION_WHATIF} <= set(result.metrics)
    assert result.metrics[TEST_WHATIF]["status quo"]["revenue_change"] == 0.0
