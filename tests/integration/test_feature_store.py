"""The feature store against independent references: a point-in-time dataset equals features
computed straight from warehouse events with plain SQL; deleting the future changes nothing;
online equals the newest offline snapshot; pushes land online at once; Feast's own CLI works; the
bulk loader writes what stock Feast's materialize writes."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest

from feature_repo.definitions import names
from feature_repo.store import (LOCAL_YAML, REPO_DIR, YAML_ENV_VAR, FeatureStoreError, materialize, newest_snapshot,
                                 open_store, reachable, view_requests)
from shopml.settings import HOME_ENV_VAR, Settings, project_root
from tests.conftest import TINY_SHOP
from training.datasets import EntityRowsError, point_in_time_dataset

START = datetime(TINY_SHOP.start.year, TINY_SHOP.start.month, TINY_SHOP.start.day, tzinfo=timezone.utc)
END = START + timedelta(days=TINY_SHOP.days)
TTL = timedelta(days=2)


def shopml(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "shopml.cli", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def feature_home(warehouse: Path, home: Path, via_cli: bool = False, online: bool = True) -> Settings:
    """A home on a copy of ``warehouse`` with its features built and applied, and materialised
    unless not ``online``. ``via_cli``: the build by `shopml features build` as a user runs it
    (this module's own home); else by the same call in this process (a CLI start costs seconds).
    Apply always runs the `feast` executable, as `shopml features apply` does."""
    from feature_repo.pipeline import build_features
    from feature_repo.store import apply

    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(warehouse, home / "warehouse.duckdb")
    settings = Settings.resolve(home)
    if via_cli:
        shopml("features", "build", "--home", str(home))
    else:
        build_features(settings)
    apply(settings)
    if online:
        materialize(settings)
    return settings


@pytest.fixture(scope="module")
def settings(tiny_warehouse, tmp_path_factory) -> Settings:
    return feature_home(tiny_warehouse, tmp_path_factory.mktemp("features_home"), via_cli=True)


@pytest.fixture(scope="module")
def store(settings):
    return open_store(settings)


def probes(wh_path: Path, entity: str, table: str, n: int, seed: int) -> pl.DataFrame:
    """Random (entity, as-of) rows: before the first snapshot, between snapshots, at midnights,
    after the TTL has run out, and right after sign-up."""
    rng = np.random.default_rng(seed)
    with duckdb.connect(str(wh_path), read_only=True) as con:
        ids = np.array([r[0] for r in con.execute(f"SELECT {entity} FROM {table}").fetchall()])
    span = (END - START).total_seconds() + 7 * 86400
    offsets = rng.uniform(-2 * 86400, span, n)
    offsets[: n // 10] = np.floor(offsets[: n // 10] / 86400) * 86400          # exact midnights
    times = [START + timedelta(seconds=float(s)) for s in offsets]
    return pl.DataFrame({entity: rng.choice(ids, n), names.EVENT_TIMESTAMP: times}).with_columns(
        pl.col(names.EVENT_TIMESTAMP).dt.replace_time_zone("UTC"))


# The reference: for an as-of time T, the newest snapshot is D = the midnight at or before T (never
# later than the last snapshot, END), it exists for users who signed up before D, and it is too old
# once T - D > TTL. Features are then counted straight from the raw tables over [D - N days, D).
REFERENCE_USER = """
WITH category_levels AS (   -- list-price level of a category on a day, promotions left out
    SELECT i.category, pr.day, avg(pr.price / i.base_price) AS level
    FROM prices pr JOIN items i USING (item_id) WHERE NOT pr.on_promo GROUP BY ALL),
p AS (
    SELECT probe.*, least(date_trunc('day', probe.event_timestamp), TIMESTAMPTZ '{end}') AS d
    FROM probe),
ok AS (
    SELECT p.*, (p.d >= TIMESTAMPTZ '{first}' AND p.event_timestamp - p.d <= INTERVAL {ttl} DAY
                 AND u.signup_ts < p.d) AS has_snapshot, u.signup_ts
    FROM p JOIN users u USING (user_id))
SELECT ok.__row,
  CASE WHEN has_snapshot THEN (SELECT count(*) FROM events e WHERE e.user_id = ok.user_id AND e.event_type = 'view' AND e.ts >= ok.d - INTERVAL 7 DAY AND e.ts < ok.d) END AS views_7d,
  CASE WHEN has_snapshot THEN (SELECT count(*) FROM events e WHERE e.user_id = ok.user_id AND e.event_type = 'cart' AND e.ts >= ok.d - INTERVAL 30 DAY AND e.ts < ok.d) END AS carts_30d,
  CASE WHEN has_snapshot THEN (SELECT count(*) FROM events e WHERE e.user_id = ok.user_id AND e.event_type = 'purchase' AND e.ts >= ok.d - INTERVAL 90 DAY AND e.ts < ok.d) END AS purchases_90d,
  CASE WHEN has_snapshot THEN (SELECT count(DISTINCT session_id) FROM events e WHERE e.user_id = ok.user_id AND e.ts >= ok.d - INTERVAL 30 DAY AND e.ts < ok.d) END AS sessions_30d,
  CASE WHEN has_snapshot THEN (SELECT count(DISTINCT i.category) FROM events e JOIN items i USING (item_id) WHERE e.user_id = ok.user_id AND e.ts >= ok.d - INTERVAL 30 DAY AND e.ts < ok.d) END AS distinct_categories_30d,
  CASE WHEN has_snapshot THEN (SELECT epoch(ok.d) - epoch(max(e.ts)) FROM events e WHERE e.user_id = ok.user_id AND e.ts < ok.d) / 86400.0 END AS days_since_last_event,
  CASE WHEN has_snapshot THEN (SELECT count(DISTINCT CAST(e.ts AS DATE)) FROM events e WHERE e.user_id = ok.user_id AND e.event_type = 'purchase' AND e.ts < ok.d) END AS purchase_days_total,
  CASE WHEN has_snapshot THEN (SELECT epoch(ok.d) - epoch(min(e.ts)) FROM events e WHERE e.user_id = ok.user_id AND e.event_type = 'purchase' AND e.ts < ok.d) / 86400.0 END AS days_since_first_purchase,
  CASE WHEN has_snapshot THEN (SELECT coalesce(sum(e.price * e.quantity), 0) FROM events e WHERE e.user_id = ok.user_id AND e.event_type = 'purchase' AND e.ts >= ok.d - INTERVAL 30 DAY AND e.ts < ok.d) END AS spend_30d,
  CASE WHEN has_snapshot THEN (SELECT count(*) FROM searches s WHERE s.user_id = ok.user_id AND s.ts >= ok.d - INTERVAL 30 DAY AND s.ts < ok.d AND NOT EXISTS (SELECT 1 FROM search_impressions i WHERE i.search_id = s.search_id AND i.clicked)) END AS searches_without_click_30d,
  CASE WHEN has_snapshot THEN (SELECT avg(clicked::INT) FROM ad_impressions a WHERE a.user_id = ok.user_id AND NOT a.in_holdout AND a.ts >= ok.d - INTERVAL 30 DAY AND a.ts < ok.d) END AS ad_ctr_30d,
  CASE WHEN has_snapshot THEN (epoch(ok.d) - epoch(ok.signup_ts)) / 86400.0 END AS tenure_days,
  CASE WHEN has_snapshot THEN coalesce((SELECT max(p.discount) FROM promotions p WHERE p.user_id = ok.user_id AND p.coupon
       AND p.ts < ok.d AND ok.d < p.ts + to_days(p.valid_days) AND NOT EXISTS (
           SELECT 1 FROM events e WHERE e.user_id = p.user_id AND e.event_type = 'purchase'
           AND e.ts >= p.ts AND e.ts < ok.d)), 0) END AS coupon_active_discount,
  CASE WHEN has_snapshot THEN (SELECT count(*) FROM pushes p WHERE p.user_id = ok.user_id AND p.treated
       AND p.ts >= ok.d - INTERVAL 2 DAY AND p.ts < ok.d) END AS pushes_received_2d,
  CASE WHEN has_snapshot THEN (SELECT avg(greatest(0, ln(level_then.level / level_before.level)))
       FROM events e JOIN items i USING (item_id)
       JOIN category_levels level_then ON level_then.category = i.category AND level_then.day = CAST(e.ts AS DATE)
       JOIN category_levels level_before ON level_before.category = i.category AND level_before.day = (
           SELECT min(day) FROM category_levels l WHERE l.category = i.category
           AND l.day >= CAST(e.ts AS DATE) - 28 AND l.day <= CAST(e.ts AS DATE))
       WHERE e.user_id = ok.user_id AND e.event_type = 'view' AND e.ts >= ok.d - INTERVAL 30 DAY AND e.ts < ok.d)
       END AS price_rise_seen_30d,
  CASE WHEN has_snapshot THEN (SELECT count(*) FROM events e WHERE e.user_id = ok.user_id AND e.event_type = 'purchase'
       AND e.ts >= ok.d - INTERVAL 90 DAY AND e.ts < ok.d
       AND (SELECT avg(rating) FROM reviews r WHERE r.item_id = e.item_id AND CAST(r.ts AS DATE) < CAST(e.ts AS DATE)) < 3)
       END AS low_rated_purchases_90d,
  CASE WHEN has_snapshot THEN (SELECT count(*) FROM reviews r WHERE r.user_id = ok.user_id AND r.rating <= 2
       AND r.ts >= ok.d - INTERVAL 90 DAY AND r.ts < ok.d) END AS low_ratings_given_90d
FROM ok
"""
USER_COLUMNS = {
    "views_7d": "user_activity__views_7d", "carts_30d": "user_activity__carts_30d",
    "purchases_90d": "user_activity__purchases_90d", "sessions_30d": "user_activity__sessions_30d",
    "distinct_categories_30d": "user_activity__distinct_categories_30d",
    "days_since_last_event": "user_activity__days_since_last_event", "spend_30d": "user_monetary__spend_30d",
    "purchase_days_total": "user_activity__purchase_days_total",
    "days_since_first_purchase": "user_activity__days_since_first_purchase",
    "searches_without_click_30d": "user_engagement__searches_without_click_30d",
    "ad_ctr_30d": "user_engagement__ad_ctr_30d", "tenure_days": "user_profile__tenure_days",
    "coupon_active_discount": "user_monetary__coupon_active_discount",
    "pushes_received_2d": "user_engagement__pushes_received_2d",
    "price_rise_seen_30d": "user_experience__price_rise_seen_30d",
    "low_rated_purchases_90d": "user_experience__low_rated_purchases_90d",
    "low_ratings_given_90d": "user_experience__low_ratings_given_90d",
}


def reference(wh_path: Path, query: str, rows: pl.DataFrame, first_snapshot: datetime) -> pl.DataFrame:
    with duckdb.connect(str(wh_path), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("probe", rows.with_row_index("__row").to_arrow())
        sql = query.format(end=END.isoformat(), first=first_snapshot.isoformat(), ttl=TTL.days)
        return con.sql(sql).pl().sort("__row")


def assert_same(ours: pl.DataFrame, theirs: pl.DataFrame, columns: dict[str, str]) -> None:
    for ref_column, feast_column in columns.items():
        expected = theirs[ref_column].cast(pl.Float64).to_numpy()
        got = ours[feast_column].cast(pl.Float64).to_numpy()
        assert np.array_equal(np.isnan(expected), np.isnan(got)), (feast_column, "null pattern differs")
        known = ~np.isnan(expected)
        np.testing.assert_allclose(got[known], expected[known], rtol=1e-9, atol=1e-9, err_msg=feast_column)


def test_user_features_equal_a_plain_sql_reference(settings, store, tiny_warehouse):
    rows = probes(tiny_warehouse, names.USER_ID, "users", 600, seed=1)
    ours = point_in_time_dataset(rows, names.CHURN_V1, store=store)
    theirs = reference(tiny_warehouse, REFERENCE_USER, rows, START + timedelta(days=1))
    assert ours.height == rows.height
    assert ours[names.USER_ID].to_list() == rows[names.USER_ID].to_list()     # order kept
    nulls = ours["user_activity__views_7d"].null_count()
    assert 0.05 * rows.height < nulls < 0.5 * rows.height                      # expiry and pre-snapshot rows
    for column in ("coupon_active_discount", "pushes_received_2d", "price_rise_seen_30d", "low_rated_purchases_90d",
                   "low_ratings_given_90d"):
        assert (theirs[column] > 0).sum() > 10, column                          # the probes reach it
    assert_same(ours, theirs, USER_COLUMNS)


REFERENCE_ITEM_AD = """
WITH p AS (
    SELECT probe.*, least(date_trunc('day', probe.event_timestamp), TIMESTAMPTZ '{end}') AS d FROM probe),
ok AS (
    SELECT p.*, (p.d >= TIMESTAMPTZ '{first}' AND p.event_timestamp - p.d <= INTERVAL {ttl} DAY
                 AND i.launch_ts < p.d) AS item_ok,
           (p.d >= TIMESTAMPTZ '{first}' AND p.event_timestamp - p.d <= INTERVAL {ttl} DAY
                 AND a.start_ts < p.d) AS ad_ok
    FROM p JOIN items i USING (item_id) JOIN ads a USING (ad_id)),
category_facts AS (    -- what user_category counts, with its category
    SELECT e.user_id, i.category, e.ts, e.event_type AS kind, false AS clicked
    FROM events e JOIN items i USING (item_id) WHERE e.event_type IN ('view', 'cart', 'purchase')
    UNION ALL
    SELECT a.user_id, i.category, a.ts, 'ad', a.clicked
    FROM ad_impressions a JOIN ads USING (ad_id) JOIN items i ON i.item_id = ads.item_id WHERE NOT a.in_holdout)
SELECT ok.__row,
  CASE WHEN item_ok THEN (SELECT count(*) FROM events e WHERE e.item_id = ok.item_id AND e.event_type = 'view' AND e.ts >= ok.d - INTERVAL 7 DAY AND e.ts < ok.d) END AS item_views_7d,
  CASE WHEN item_ok THEN (SELECT avg(rating) FROM reviews r WHERE r.item_id = ok.item_id AND r.ts < ok.d) END AS avg_rating,
  CASE WHEN item_ok THEN (SELECT price FROM prices pr WHERE pr.item_id = ok.item_id AND pr.day < CAST(ok.d AS DATE) ORDER BY pr.day DESC LIMIT 1) END AS current_price,
  CASE WHEN ad_ok THEN (SELECT count(*) FROM ad_impressions a WHERE a.ad_id = ok.ad_id AND a.clicked AND a.ts >= ok.d - INTERVAL 30 DAY AND a.ts < ok.d) END AS clicks_30d,
  -- user_category has no TTL: a pair seen before d has its 90-day counts at d, else null
  CASE WHEN EXISTS (SELECT 1 FROM category_facts f WHERE f.user_id = ok.user_id AND f.category = ok.category AND f.ts < ok.d)
       THEN (SELECT count(*) FROM category_facts f WHERE f.user_id = ok.user_id AND f.category = ok.category
             AND f.kind = 'view' AND f.ts >= ok.d - INTERVAL 90 DAY AND f.ts < ok.d) END AS category_views_90d,
  CASE WHEN EXISTS (SELECT 1 FROM category_facts f WHERE f.user_id = ok.user_id AND f.category = ok.category AND f.ts < ok.d)
       THEN (SELECT count(*) FROM category_facts f WHERE f.user_id = ok.user_id AND f.category = ok.category
             AND f.clicked AND f.ts >= ok.d - INTERVAL 90 DAY AND f.ts < ok.d) END AS category_ad_clicks_90d
FROM ok
"""


def test_item_ad_and_user_category_features_and_request_context_through_ctr_v1(store, tiny_warehouse):
    ads = probes(tiny_warehouse, names.AD_ID, "ads", 300, seed=2)
    with duckdb.connect(str(tiny_warehouse), read_only=True) as con:
        item_of_ad = dict(con.execute("SELECT ad_id, item_id FROM ads").fetchall())
        category_of_item = dict(con.execute("SELECT item_id, category FROM items").fetchall())
        viewers = con.sql("SELECT ad_id, user_id FROM ad_impressions ORDER BY hash(impression_id)").pl()
    viewer_of_ad = dict(viewers.unique(names.AD_ID, keep="first").iter_rows())    # someone the ad was shown to
    rows = ads.with_columns(pl.col(names.AD_ID).replace_strict(item_of_ad).alias(names.ITEM_ID)).with_columns(
        pl.col(names.ITEM_ID).replace_strict(category_of_item).alias(names.CATEGORY),
        pl.col(names.AD_ID).replace_strict(viewer_of_ad, default=1).alias(names.USER_ID),
        pl.Series("ad_position", np.arange(300) % 4 + 1),
        pl.Series("hour_of_day", np.arange(300) % 24),
    )
    ours = point_in_time_dataset(rows, names.CTR_V1, store=store)
    theirs = reference(tiny_warehouse, REFERENCE_ITEM_AD, rows, START + timedelta(days=1))
    for column in ("category_views_90d", "category_ad_clicks_90d"):
        assert (theirs[column] > 0).sum() > 30, column                          # the probes reach it
    assert theirs["category_views_90d"].null_count() > 10                       # and pairs never seen
    assert_same(ours, theirs, {"item_views_7d": "item_stats__views_7d", "avg_rating": "item_stats__avg_rating",
                               "current_price": "item_stats__current_price", "clicks_30d": "ad_stats__clicks_30d",
                               "category_views_90d": "user_category__views_90d",
                               "category_ad_clicks_90d": "user_category__ad_clicks_90d"})
    np.testing.assert_allclose(ours["request_context__position_prior"].to_numpy(),
                               0.64 ** (rows["ad_position"].to_numpy() - 1))
    assert ours["request_context__is_evening"].to_list() == [float(h >= 18) for h in rows["hour_of_day"]]
    assert ours["item_content__category"].null_count() == 0                     # content never expires


def without_the_future(warehouse: Path, target: Path, cutoff: datetime) -> None:
    shutil.copy(warehouse, target)
    with duckdb.connect(str(target)) as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("DELETE FROM search_impressions WHERE search_id IN (SELECT search_id FROM searches WHERE ts >= ?)", [cutoff])
        for table in ("events", "searches", "ad_impressions", "pushes", "promotions", "reviews"):
            con.execute(f"DELETE FROM {table} WHERE ts >= ?", [cutoff])
        con.execute("DELETE FROM prices WHERE day >= CAST(? AS DATE)", [cutoff])


@pytest.mark.slow
def test_deleting_the_future_changes_no_past_row(settings, store, tiny_warehouse, tmp_path):
    cutoff = START + timedelta(days=40, hours=9)
    truncated = tmp_path / "truncated.duckdb"
    without_the_future(tiny_warehouse, truncated, cutoff)
    past_settings = feature_home(truncated, tmp_path / "past_home", online=False)
    rows = probes(tiny_warehouse, names.USER_ID, "users", 500, seed=3).filter(
        pl.col(names.EVENT_TIMESTAMP) <= cutoff)
    assert rows.height > 200
    full = point_in_time_dataset(rows, names.PROPENSITY_V1, store=store)
    past = point_in_time_dataset(rows, names.PROPENSITY_V1, store=open_store(past_settings))
    os.environ[HOME_ENV_VAR] = str(settings.home)
    assert full.columns == past.columns
    # a float may differ in its last bits: DuckDB's window sums add in an order that depends on the
    # partition's later rows (docs/pitfalls.md); a leak would differ by far more
    differing = {c: (full[c] - past[c]).abs().max() if full[c].dtype == pl.Float64 else "?"
                 for c in full.columns if not full[c].equals(past[c], null_equal=True)}
    assert {c: d for c, d in differing.items() if d == "?" or not d <= 1e-12} == {}


def test_online_features_equal_the_newest_offline_snapshot(settings, store, tiny_warehouse):
    newest = newest_snapshot(settings)
    with duckdb.connect(str(tiny_warehouse), read_only=True) as con:
        users = [r[0] for r in con.execute("SELECT user_id FROM users WHERE signup_ts < ? ORDER BY hash(user_id) LIMIT 60", [newest]).fetchall()]
    offline = point_in_time_dataset(
        pl.DataFrame({names.USER_ID: users, names.EVENT_TIMESTAMP: [newest] * len(users)}), names.CHURN_V1, store=store)
    online = store.get_online_features(features=store.get_feature_service(names.CHURN_V1),
                                       entity_rows=[{names.USER_ID: u} for u in users],
                                       full_feature_names=True).to_dict()
    feature_columns = [c for c in offline.columns if "__" in c]
    assert len(feature_columns) == sum(len(names.FEATURES[v][1]) + len(names.FEATURES[v][2]) for v in
                                       (names.USER_ACTIVITY, names.USER_MONETARY, names.USER_ENGAGEMENT, names.USER_PROFILE,
                                        names.USER_EXPERIENCE))
    for column in feature_columns:
        assert online[column] == offline[column].to_list(), column


def test_a_pushed_event_shows_up_online_at_once(store):
    now = datetime.now(timezone.utc)
    pushed = pd.DataFrame({names.USER_ID: [1, 2], names.EVENT_TIMESTAMP: [now, now],
                           **{f: [0.0, 1.0] for f in names.REALTIME_FEATURES},      # a push carries every column
                           "session_views": [3.0, 7.0], "session_carts": [1.0, 0.0],
                           "minutes_since_last_event": [0.5, 2.0]})
    store.push(names.USER_REALTIME_PUSH, pushed)
    online = store.get_online_features(
        features=[f"{names.USER_REALTIME}:{f}" for f in names.REALTIME_FEATURES],
        entity_rows=[{names.USER_ID: 1}, {names.USER_ID: 2}]).to_dict()
    assert online["session_views"] == [3.0, 7.0] and online["session_carts"] == [1.0, 0.0]


def test_entity_rows_without_keys_or_time_zone_are_refused(store):
    naive = pl.DataFrame({names.USER_ID: [1], names.EVENT_TIMESTAMP: [datetime(2026, 2, 1)]})
    with pytest.raises(EntityRowsError, match="tz-aware"):
        point_in_time_dataset(naive, names.CHURN_V1, store=store)
    with pytest.raises(EntityRowsError, match=r"lack columns \['ad_id', 'category', 'item_id'"):
        point_in_time_dataset(naive.with_columns(pl.col(names.EVENT_TIMESTAMP).dt.replace_time_zone("UTC")),
                              names.CTR_V1, store=store)


def test_feast_cli_applies_a_temporary_copy_of_the_repo(settings, tmp_path, monkeypatch):
    """feast apply, plan, list, materialize and materialize-incremental, as a user types them. The
    commands run through Feast's own click CLI in this process (each `feast` start imports Feast
    for about 10 s); `shopml features apply` runs the real `feast` executable in every home."""
    from click.testing import CliRunner
    from feast import FeatureStore
    from feast.cli.cli import cli

    repo = tmp_path / "repo"
    shutil.copytree(REPO_DIR, repo, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    home = tmp_path / "home"
    home.mkdir()
    (home / "features").symlink_to(settings.features_dir)
    monkeypatch.setenv(HOME_ENV_VAR, str(home))

    def feast(*args):
        done = CliRunner().invoke(cli, ["--chdir", str(repo), *args], catch_exceptions=False)
        assert done.exit_code == 0, done.output
        return done.output

    feast("apply")
    assert (home / "feast" / "registry.db").is_file() and (home / "feast" / "online.db").is_file()
    listed = feast("feature-views", "list")
    assert all(view in listed for view in names.BATCH_VIEWS)
    assert "No changes to registry" in feast("plan")
    assert names.CHURN_V1 in feast("feature-services", "list")
    # An initial range, then incremental runs continue from where the last one ended (a short range:
    # stock Feast reads every daily snapshot in it, and the TTL is two days).
    newest = newest_snapshot(settings)
    stamp = "%Y-%m-%dT%H:%M:%S"
    feast("materialize", (newest - timedelta(days=12)).strftime(stamp), (newest - timedelta(days=10)).strftime(stamp))
    feast("materialize-incremental", (newest + timedelta(seconds=1)).strftime(stamp))
    online = FeatureStore(repo_path=str(repo)).get_online_features(
        features=["user_profile:tenure_days"], entity_rows=[{"user_id": 1}]).to_dict()["tenure_days"][0]
    offline = point_in_time_dataset(pl.DataFrame({names.USER_ID: [1], names.EVENT_TIMESTAMP: [newest]}),
                                    names.CHURN_V1, store=open_store(settings))
    assert online == offline["user_profile__tenure_days"][0]


def test_without_the_variable_the_store_lives_in_the_project_data(monkeypatch):
    from feast.repo_config import load_repo_config

    monkeypatch.delenv(HOME_ENV_VAR, raising=False)
    config = load_repo_config(REPO_DIR, REPO_DIR / "feature_store.yaml")
    registry = Path(config.registry.path if hasattr(config.registry, "path") else config.registry)
    online = Path(config.online_store.path)
    data = (project_root() / "data").resolve()
    assert (REPO_DIR / registry).resolve() == data / "feast" / "registry.db"
    assert (REPO_DIR / online).resolve() == data / "feast" / "online.db"
    assert Settings.resolve().features_dir == data / "features"


def test_shopmls_offline_store_answers_every_feature_service_as_stock_feast(settings, store, tiny_warehouse, tmp_path):
    """Feast's get_historical_features through shopml's offline store (one ASOF join) and through
    Feast's own DuckDB store: the same frame, column for column and type for type, for every
    feature service (on-demand views and request inputs included), keeping the entity rows' order."""
    assert type(store._get_provider().offline_store).__name__ == "AsofOfflineStore"
    yaml = tmp_path / "stock.yaml"
    yaml.write_text(LOCAL_YAML.read_text().replace("type: feature_repo.asof_store.AsofOfflineStore", "type: duckdb"))
    os.environ[YAML_ENV_VAR] = str(yaml)
    try:
        stock = open_store(settings)
    finally:
        del os.environ[YAML_ENV_VAR]
    rng, n = np.random.default_rng(4), 400
    with duckdb.connect(str(tiny_warehouse), read_only=True) as con:
        known = {key: np.array([r[0] for r in con.execute(query).fetchall()]) for key, query in (
            (names.USER_ID, "SELECT user_id FROM users"), (names.ITEM_ID, "SELECT item_id FROM items"),
            (names.AD_ID, "SELECT ad_id FROM ads"), (names.CATEGORY, "SELECT DISTINCT category FROM items"),
            (names.BRAND, "SELECT DISTINCT brand FROM items"))}
    known[names.PRICE_BAND] = np.array(names.PRICE_BANDS)
    rows = probes(tiny_warehouse, names.USER_ID, "users", n, seed=4).with_columns(
        **{key: pl.Series(rng.choice(values, n)) for key, values in known.items() if key != names.USER_ID},
        **{column: pl.Series(rng.integers(0, 24, n)) for column in names.REQUEST_INPUTS})
    for service in store.list_feature_services():
        ours = point_in_time_dataset(rows, service.name, store=store)
        theirs = point_in_time_dataset(rows, service.name, store=stock)
        assert ours.schema == theirs.schema, service.name
        assert ours.equals(theirs, null_equal=True), service.name
    job = store.get_historical_features(entity_df=rows.to_pandas(), features=store.get_feature_service(names.CHURN_V1))
    assert job.to_df()[names.USER_ID].tolist() == rows[names.USER_ID].to_list()      # in the rows' order
    from feast.errors import FeastEntityDFMissingColumnsError

    with pytest.raises(FeastEntityDFMissingColumnsError, match="user_id"):            # a clear error, not SQL's
        store.get_historical_features(entity_df=rows.drop(names.USER_ID).to_pandas(),
                                      features=store.get_feature_service(names.CHURN_V1))


# The bulk loader (feature_repo.online_load) writes what stock Feast's materialize writes: views of
# every value type and key shape materialised both ways into SQLite (every table, row for row and
# byte for byte) and into Redis (every key and hash field), with the same intervals in the registry;
# the online reader answers as Feast's get_online_features does.
REDIS = ("127.0.0.1", 6379)
BULK_LOAD_REDIS_DBS = {"stock": 9, "bulk": 10}      # databases of their own, flushed before and after
# every value type and key shape the views have (stock takes seconds a view, so not every view):
# doubles on a user key with a TTL, strings, two keys (user and category string) without a TTL, int64
COVERING_VIEWS = (names.USER_ACTIVITY, names.USER_PROFILE, names.USER_CATEGORY, names.USER_SEGMENT)


def reader_answers_as_feast(store, warehouse: Path, answering=(names.CHURN_V1, names.CTR_V1, names.SEARCH_V1),
                            rows: int = 60) -> None:
    """shopml's online reader gives Feast's answer, column for column, for every feature service,
    over known entities and unknown ones (None, time 0)."""
    from feature_repo.online_read import OnlineReader

    with duckdb.connect(str(warehouse), read_only=True) as con:
        known = {key: [r[0] for r in con.execute(query).fetchall()] + [unknown] for key, query, unknown in (
            (names.USER_ID, "SELECT user_id FROM users", 10**9), (names.ITEM_ID, "SELECT item_id FROM items", 10**9),
            (names.AD_ID, "SELECT ad_id FROM ads", 10**9), (names.CATEGORY, "SELECT DISTINCT category FROM items", "none"),
            (names.BRAND, "SELECT DISTINCT brand FROM items", "none"))}
    known[names.PRICE_BAND] = [*names.PRICE_BANDS, "none"]
    reader, rng, answered = OnlineReader(store), np.random.default_rng(3), set()
    for service in store.list_feature_services():
        reads = [read for read in view_requests(store, service.name) if not read.on_demand]
        refs = [ref for read in reads for ref in read.refs]
        keys = sorted({key for read in reads for key in read.keys})
        entity_rows = {key: [known[key][i] for i in rng.integers(0, len(known[key]), rows)] for key in keys}
        feasts = store.get_online_features(features=refs, entity_rows=entity_rows,
                                           full_feature_names=True).to_dict(include_event_timestamps=True)
        ours = reader.read(refs, entity_rows)
        assert {column: feasts[column] for column in ours} == ours, service.name
        if any(value is not None for column, values in ours.items() if not column.endswith("__ts") for value in values):
            answered.add(service.name)
    assert set(answering) <= answered        # views written by training are empty here


def test_the_online_reader_answers_as_feast_does(store, tiny_warehouse):
    reader_answers_as_feast(store, tiny_warehouse)


def loaded_both_ways(settings, folder: Path, online_store: str, monkeypatch) -> None:
    """Materialise the views of COVERING_VIEWS (and no other) into two copies of the home's
    (applied, emptied) online store and registry: one by Feast's own materialize, one by the bulk
    loader."""
    for way in ("stock", "bulk"):
        registry = folder / f"registry_{way}.db"
        shutil.copy(settings.home / "feast" / "registry.db", registry)
        shutil.copy(settings.home / "feast" / "online.db", folder / f"online_{way}.db")
        with sqlite3.connect(folder / f"online_{way}.db") as con:        # the tables as applied, empty
            for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
                con.execute(f'DELETE FROM "{table}"')
        yaml = LOCAL_YAML.read_text().replace("${SHOPML_HOME}/feast/registry.db", str(registry))
        yaml = yaml.replace("  type: sqlite\n  path: ${SHOPML_HOME}/feast/online.db\n",
                            online_store.format(path=folder / f"online_{way}.db", db=BULK_LOAD_REDIS_DBS[way]))
        (folder / f"{way}.yaml").write_text(yaml)
        monkeypatch.setenv(YAML_ENV_VAR, str(folder / f"{way}.yaml"))
        materialize(settings, stock=way == "stock", views=COVERING_VIEWS)
    monkeypatch.delenv(YAML_ENV_VAR)


def intervals(settings, yaml: Path, monkeypatch) -> dict:
    monkeypatch.setenv(YAML_ENV_VAR, str(yaml))
    store = open_store(settings)
    return {name: [(i[0], i[1]) for i in store.get_feature_view(name).materialization_intervals]
            for name in COVERING_VIEWS}


def test_sqlite_bulk_load_is_stock_feasts_byte_for_byte(settings, tmp_path, monkeypatch):
    loaded_both_ways(settings, tmp_path, "  type: sqlite\n  path: {path}\n", monkeypatch)
    tables = {}
    for way in ("stock", "bulk"):
        with sqlite3.connect(tmp_path / f"online_{way}.db") as con:
            tables[way] = {table: con.execute(f'SELECT * FROM "{table}" ORDER BY entity_key, feature_name').fetchall()
                           for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables["bulk"].keys() == tables["stock"].keys()
    assert sum(map(len, tables["stock"].values())) > 5_000
    assert not any(rows for table, rows in tables["stock"].items() if table.removeprefix("shopml_") not in COVERING_VIEWS)
    for table, rows in tables["stock"].items():
        assert tables["bulk"][table] == rows, table
    assert intervals(settings, tmp_path / "bulk.yaml", monkeypatch) == intervals(settings, tmp_path / "stock.yaml", monkeypatch)


def test_materialising_an_unknown_view_names_the_known_ones(settings):
    with pytest.raises(FeatureStoreError, match=r"unknown online views \['user_nothing'\]; known: \['user_activity'"):
        materialize(settings, views=[names.USER_ACTIVITY, "user_nothing"])


@pytest.mark.skipif(not reachable(REDIS), reason="needs Redis on 127.0.0.1:6379")
def test_redis_bulk_load_and_reads_are_stock_feasts(settings, tiny_warehouse, tmp_path, monkeypatch):
    import redis

    clients = {way: redis.Redis(host=REDIS[0], port=REDIS[1], db=db) for way, db in BULK_LOAD_REDIS_DBS.items()}
    for client in clients.values():
        client.flushdb()
    try:
        loaded_both_ways(settings, tmp_path, "  type: redis\n  connection_string: 127.0.0.1:6379,db={db}\n", monkeypatch)
        keys = {way: sorted(client.keys()) for way, client in clients.items()}
        assert keys["bulk"] == keys["stock"] and len(keys["stock"]) > 1_000
        for key in keys["stock"]:
            assert clients["bulk"].hgetall(key) == clients["stock"].hgetall(key), key
        monkeypatch.setenv(YAML_ENV_VAR, str(tmp_path / "bulk.yaml"))
        reader_answers_as_feast(open_store(settings), tiny_warehouse, answering=(names.CHURN_V1,))
    finally:
        for client in clients.values():
            client.flushdb()
