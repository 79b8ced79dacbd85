"""Structural invariants of the simulated shop: keys, time window, funnel, silence after churn."""

from datetime import datetime, timedelta, timezone

import pytest

from shopml.warehouse import schema
from tests.conftest import TINY_SHOP, rows, value

START = datetime(TINY_SHOP.start.year, TINY_SHOP.start.month, TINY_SHOP.start.day, tzinfo=timezone.utc)
END = START + timedelta(days=TINY_SHOP.days)

FOREIGN_KEYS = [  # (child table, column, parent table, parent key)
    ("events", "user_id", "users", "user_id"), ("events", "item_id", "items", "item_id"),
    ("ads", "item_id", "items", "item_id"), ("searches", "user_id", "users", "user_id"),
    ("search_impressions", "search_id", "searches", "search_id"),
    ("search_impressions", "item_id", "items", "item_id"), ("ad_impressions", "ad_id", "ads", "ad_id"),
    ("ad_impressions", "user_id", "users", "user_id"), ("pushes", "user_id", "users", "user_id"),
    ("promotions", "user_id", "users", "user_id"), ("reviews", "user_id", "users", "user_id"),
    ("reviews", "item_id", "items", "item_id"), ("prices", "item_id", "items", "item_id"),
    ("truth.user_days", "user_id", "users", "user_id"),
    ("truth.searches", "intended_item_id", "items", "item_id"),
    ("pages", "user_id", "users", "user_id"), ("page_impressions", "page_id", "pages", "page_id"),
    ("page_impressions", "item_id", "items", "item_id"),
    ("carousels", "user_id", "users", "user_id"), ("carousel_impressions", "carousel_id", "carousels", "carousel_id"),
    ("carousel_impressions", "item_id", "items", "item_id"),
]
TRUTH_ROWS = [  # truth table and its canonical twin, one row each
    ("truth.ad_impressions", "ad_impressions", "impression_id"), ("truth.pushes", "pushes", "push_id"),
    ("truth.promotions", "promotions", "promotion_id"), ("truth.searches", "searches", "search_id"),
    ("truth.reviews", "reviews", "review_id"), ("truth.users", "users", "user_id"),
    ("truth.purchases", "(SELECT * FROM events WHERE event_type = 'purchase')", "event_id"),
    ("truth.items", "items", "item_id"), ("truth.ads", "ads", "ad_id"),
]
PROBABILITIES = [
    ("truth.user_days", "p_cart"), ("truth.user_days", "p_purchase"), ("truth.user_days", "p_churn"),
    ("truth.ad_impressions", "p_click"), ("truth.pushes", "p_open"),
    ("truth.pushes", "p_purchase_treated"), ("truth.pushes", "p_purchase_control"),
    ("truth.purchases", "p_review"),
    ("truth.promotions", "p_purchase_coupon"), ("truth.promotions", "p_purchase_no_coupon"),
    ("truth.search_impressions", "p_click"), ("truth.page_impressions", "attraction"),
    ("truth.page_impressions", "p_click"), ("page_impressions", "propensity"),
    ("truth.carousel_impressions", "attraction"), ("truth.carousel_impressions", "p_click"),
    ("carousel_impressions", "propensity"),
]


def test_each_review_names_the_purchase_it_follows(wh):
    """Same buyer, same item, bought before the review was written; one review per purchase."""
    assert rows(wh, """SELECT count(*) = count(*) FILTER (WHERE e.event_type = 'purchase' AND e.user_id = r.user_id
                                                      AND e.item_id = r.item_id AND e.ts < r.ts),
                              count(DISTINCT t.purchase_id) = count(*)
                       FROM reviews r JOIN truth.reviews t USING (review_id)
                       JOIN events e ON e.event_id = t.purchase_id""") == [(True, True)]


def test_every_canonical_table_is_filled(wh):
    for table in schema.CANONICAL_TABLES:
        assert value(wh, f"SELECT count(*) FROM {table.name}") > 0, table.name
    assert set(rows(wh, "SELECT DISTINCT event_type FROM events")) == {(t,) for t in schema.EVENT_TYPES}


@pytest.mark.parametrize("child,column,parent,parent_key", FOREIGN_KEYS)
def test_referential_integrity(wh, child, column, parent, parent_key):
    orphans = value(wh, f"SELECT count(*) FROM {child} c ANTI JOIN {parent} p ON c.{column} = p.{parent_key}")
    assert orphans == 0


@pytest.mark.parametrize("truth,canonical,key", TRUTH_ROWS)
def test_truth_has_exactly_one_row_per_canonical_row(wh, truth, canonical, key):
    assert value(wh, f"SELECT count(*) FROM {truth}") == value(wh, f"SELECT count(*) FROM {canonical}")
    assert value(wh, f"SELECT count(*) FROM {truth} t ANTI JOIN {canonical} c USING ({key})") == 0


def test_primary_keys_are_unique(wh):
    for table, key in [("events", "event_id"), ("users", "user_id"), ("items", "item_id"),
                       ("searches", "search_id"), ("ad_impressions", "impression_id"),
                       ("reviews", "review_id"), ("prices", "item_id, day"),
                       ("search_impressions", "search_id, item_id"), ("pages", "page_id"),
                       ("page_impressions", "page_id, item_id"), ("page_impressions", "page_id, position"),
                       ("truth.page_impressions", "page_id, item_id"), ("carousels", "carousel_id"),
                       ("carousel_impressions", "carousel_id, item_id"),
                       ("carousel_impressions", "carousel_id, position"),
                       ("truth.carousel_impressions", "carousel_id, item_id"), ("truth.user_days", "user_id, day")]:
        assert value(wh, f"SELECT count(*) - count(DISTINCT ({key})) FROM {table}") == 0, table


@pytest.mark.parametrize("table", ["events", "searches", "pages", "carousels", "ad_impressions", "pushes", "promotions",
                                   "reviews"])
def test_timestamps_lie_inside_the_simulated_window(wh, table):
    low, high = rows(wh, f"SELECT min(ts), max(ts) FROM {table}")[0]
    assert START <= low and high < END


def test_nothing_happens_before_signup_or_launch(wh):
    assert value(wh, "SELECT count(*) FROM events e JOIN users u USING (user_id) WHERE e.ts < u.signup_ts") == 0
    assert value(wh, "SELECT count(*) FROM events e JOIN items i USING (item_id) WHERE e.ts < i.launch_ts") == 0


@pytest.mark.parametrize("table,column", PROBABILITIES)
def test_truth_probabilities_are_probabilities(wh, table, column):
    low, high, nulls = rows(wh, f"SELECT min({column}), max({column}), count(*) - count({column}) FROM {table}")[0]
    assert nulls == 0 and 0.0 <= low and high <= 1.0


def test_other_truth_values_are_in_range(wh):
    assert value(wh, "SELECT min(least(hazard_natural, hazard_bad_experience, hazard_price_rise, "
                     "hazard_failed_search, hazard_push_fatigue)) FROM truth.user_days") >= 0
    assert rows(wh, "SELECT min(uplift) >= -1, max(uplift) <= 1 FROM truth.pushes")[0] == (True, True)
    assert rows(wh, "SELECT min(sentiment) >= -1, max(sentiment) <= 1 FROM truth.reviews")[0] == (True, True)
    assert set(rows(wh, "SELECT DISTINCT grade FROM truth.search_impressions")) <= {(0,), (1,), (2,), (3,)}


def test_funnel_is_consistent(wh):
    cart_without_view = value(wh, """
        SELECT count(*) FROM events c WHERE c.event_type = 'cart' AND NOT EXISTS (
          SELECT 1 FROM events v WHERE v.event_type = 'view' AND v.session_id = c.session_id
          AND v.item_id = c.item_id AND v.ts < c.ts)""")
    purchase_without_cart = value(wh, """
        SELECT count(*) FROM events p WHERE p.event_type = 'purchase' AND NOT EXISTS (
          SELECT 1 FROM events c WHERE c.event_type = 'cart' AND c.session_id = p.session_id
          AND c.item_id = p.item_id AND c.ts < p.ts)""")
    engagement_without_view = value(wh, """
        SELECT count(*) FROM events l WHERE l.event_type IN ('like', 'favorite', 'share') AND NOT EXISTS (
          SELECT 1 FROM events v WHERE v.event_type = 'view' AND v.session_id = l.session_id
          AND v.item_id = l.item_id AND v.ts < l.ts)""")
    assert (cart_without_view, purchase_without_cart, engagement_without_view) == (0, 0, 0)


def test_outcome_flags_follow_the_events(wh):
    assert value(wh, "SELECT count(*) FROM ad_impressions WHERE in_holdout AND clicked") == 0
    assert value(wh, "SELECT count(*) FROM search_impressions WHERE purchased AND NOT clicked") == 0
    unbacked_conversions = value(wh, """
        SELECT count(*) FROM ad_impressions a JOIN ads USING (ad_id) WHERE a.converted AND NOT EXISTS (
          SELECT 1 FROM events e WHERE e.event_type = 'purchase' AND e.session_id = a.session_id
          AND e.item_id = ads.item_id AND e.ts > a.ts)""")
    assert unbacked_conversions == 0
    assert value(wh, "SELECT count(*) FROM promotions WHERE redeemed AND NOT coupon") == 0
    assert value(wh, "SELECT count(*) FROM pushes WHERE opened AND NOT treated") == 0
    wrong_push_flags = value(wh, """
        SELECT count(*) FROM pushes p WHERE p.converted <> EXISTS (
          SELECT 1 FROM events e WHERE e.event_type = 'purchase' AND e.user_id = p.user_id
          AND e.ts >= p.ts AND e.ts < p.ts + INTERVAL 48 HOUR)""")
    assert wrong_push_flags == 0


def test_a_coupon_discounts_only_the_first_purchase_while_valid(wh):
    by_rank = rows(wh, """
        WITH purchases AS (
            SELECT e.price AS paid, pr.price AS shelf, p.discount,
                   row_number() OVER (PARTITION BY p.promotion_id ORDER BY e.ts) AS nth
            FROM promotions p
            JOIN events e ON e.user_id = p.user_id AND e.event_type = 'purchase'
                 AND e.ts >= p.ts AND e.ts < p.ts + to_days(p.valid_days)
            JOIN prices pr ON pr.item_id = e.item_id AND pr.day = CAST(e.ts AS DATE)
            WHERE p.coupon)
        SELECT nth = 1 AS first, count(*),
               count(*) FILTER (WHERE abs(paid - shelf * (1 - discount)) <= 0.0051),  -- to the cent
               count(*) FILTER (WHERE abs(paid - shelf) < 0.005)
        FROM purchases GROUP BY 1 ORDER BY 1 DESC""")
    (_, firsts, firsts_discounted, _), (_, laters, _, laters_full_price) = by_rank
    assert firsts > 20 and firsts_discounted == firsts
    assert laters > 0 and laters_full_price == laters


def test_churned_users_go_silent(wh):
    assert value(wh, "SELECT count(*) FROM truth.users WHERE churn_ts IS NOT NULL") > 100
    for table in ("events", "searches", "ad_impressions", "reviews"):
        late = value(wh, f"""SELECT count(*) FROM {table} x JOIN truth.users t USING (user_id)
                             WHERE t.churn_ts IS NOT NULL AND x.ts >= t.churn_ts""")
        assert late == 0, table
    assert value(wh, """SELECT count(*) FROM pushes p JOIN truth.users t USING (user_id)
                        WHERE p.opened AND p.ts >= t.churn_ts""") == 0
    assert value(wh, """SELECT count(*) FROM truth.user_days d JOIN truth.users t USING (user_id)
                        WHERE CAST(t.churn_ts AS DATE) <= d.day""") == 0
    assert value(wh, "SELECT count(*) FROM truth.users WHERE (churn_ts IS NULL) <> (churn_cause IS NULL)") == 0


def test_relevance_view_agrees_with_the_grades_shown(wh):
    mismatches = value(wh, """
        SELECT count(*) FROM truth.search_impressions s
        LEFT JOIN truth.search_relevance r USING (search_id, item_id)
        WHERE coalesce(r.grade, 0) <> s.grade""")
    assert mismatches == 0
    assert value(wh, "SELECT count(*) FROM truth.search_relevance WHERE grade = 3") == value(
        wh, "SELECT count(*) FROM searches")
