"""The ad audience on the tiny shop: judged on later slots, shown against ghost, beside a
click-rate audience, random and the truth's ranking, its estimator chosen on validation; the saved audiences hold every
ad's best users, in order, each active before the data's end, and the service answers from them."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from feature_repo.definitions import names
from shopml.model_store import artifact_folder
from shopml.settings import Settings
from shopml.warehouse.database import connect
from training.config import resolve_config
from training.task import run
from training.oracle import oracle_incremental_conversions
from training.tasks.ad_audience import (AUDIENCE_FILE, CHOICES, CLICK_AUDIENCE, ESTIMATORS, EXPECTED_LEAD, EXPECTED_TOP,
                                        TEST_SLOTS, AdAudienceAnswers, AdAudienceTask)
from training.uplift import MODEL, ORACLE, RANDOM


@pytest.fixture(scope="module")
def settings(model_home) -> Settings:
    return model_home


@pytest.mark.slow
def test_audiences_are_judged_on_later_slots_and_saved_best_first(settings):
    task = AdAudienceTask()
    config = resolve_config(task.config_type, overrides=["weeks=6", "test_weeks=1", "audience_size=40"])
    result = run(task, config, settings)
    table = result.metrics[TEST_SLOTS]
    assert set(table) == {MODEL, CLICK_AUDIENCE, RANDOM, ORACLE} and table[ORACLE]["share_of_oracle_true_qini"] == 1
    assert all(row["true_qini"] <= table[ORACLE]["true_qini"] for row in table.values())
    expected = result.metrics[EXPECTED_TOP]         # no ranking's top share gains more than the truth's
    assert all(row[share] <= expected[ORACLE][share] + 1e-9 for row in expected.values() for share in row)
    lead = result.metrics[EXPECTED_LEAD][MODEL]
    assert lead["difference"] == pytest.approx(table[MODEL]["true_qini"] - table[CLICK_AUDIENCE]["true_qini"])
    assert lead["low"] <= lead["high"]
    choices = result.metrics[CHOICES]
    assert set(choices) == set(ESTIMATORS) and sum(row["chosen"] for row in choices.values()) == 1
    folder, metadata = artifact_folder(f"{task.name}:latest", settings)
    assert metadata["config"]["estimator"] == next(e for e, row in choices.items() if row["chosen"])
    audiences = pl.read_parquet(folder / AUDIENCE_FILE)
    with connect(settings.warehouse_path) as con:
        ads = con.sql("SELECT count(*) FROM ads").fetchall()[0][0]
        active = set(con.sql("""SELECT DISTINCT user_id FROM events
                                WHERE ts >= (SELECT CAST(max(ts) AS DATE) + 1 FROM events) - INTERVAL 30 DAY""").pl()["user_id"])
    assert audiences[names.AD_ID].n_unique() == ads
    per_ad = audiences.group_by(names.AD_ID).agg(pl.len(), pl.col("expected_incremental_conversions"), pl.col("rank"))
    assert per_ad["len"].max() <= 40
    for gains, ranks in zip(per_ad["expected_incremental_conversions"], per_ad["rank"]):
        assert list(gains) == sorted(gains, reverse=True) and list(ranks) == list(range(1, len(ranks) + 1))
    assert set(audiences[names.USER_ID]) <= active
    answers = AdAudienceAnswers({task.name: _saved(folder, metadata)}, online=None)
    ad = int(audiences[names.AD_ID][0])
    answer = answers.answer(task.endpoint.request(ad_id=ad, size=3))
    assert answer.known_ad and len(answer.users) == 3 and answer.as_of
    assert not answers.answer(task.endpoint.request(ad_id=10**9, size=3)).known_ad


def test_a_warehouse_simulated_before_the_conversion_truth_has_no_audience_oracle(tmp_path, caplog):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("CREATE SCHEMA truth; CREATE TABLE truth.ad_impressions (impression_id BIGINT, p_click DOUBLE)")
    assert oracle_incremental_conversions(Settings(home=tmp_path), [1, 2]) is None
    assert "simulate again" in caplog.text


def _saved(folder, metadata):
    from shopml.serving import SavedModel

    return SavedModel(tag="ad_audience:test", folder=folder, metadata=metadata)
