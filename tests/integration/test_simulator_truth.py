"""The truth tables are the real probabilities behind the data, and the story has structure:
observed frequencies match the truth within sampling error, randomised experiments recover the
true uplift, and the signals the models must learn are present."""

import math

import duckdb
import numpy as np

from shopml.warehouse.simulator import Behaviour, SimulationConfig, simulate
from tests.conftest import rows, value

Z = 4.0   # tolerance in standard errors


def assert_within_sampling_error(observed_sum, expected_sum, variance_sum):
    assert abs(observed_sum - expected_sum) <= Z * math.sqrt(variance_sum) + 1, (
        observed_sum, expected_sum, math.sqrt(variance_sum))


def test_user_day_purchase_and_cart_probabilities_match_what_happened(wh):
    for event_type, column in (("purchase", "p_purchase"), ("cart", "p_cart")):
        observed, expected, variance = rows(wh, f"""
            WITH happened AS (SELECT DISTINCT user_id, CAST(ts AS DATE) AS day FROM events
                              WHERE event_type = '{event_type}')
            SELECT count(h.user_id), sum(d.{column}), sum(d.{column} * (1 - d.{column}))
            FROM truth.user_days d LEFT JOIN happened h USING (user_id, day)""")[0]
        assert_within_sampling_error(observed, expected, variance)


def test_churn_probabilities_match_the_churns(wh):
    observed = value(wh, "SELECT count(*) FROM truth.users WHERE churn_ts IS NOT NULL")
    expected, variance = rows(wh, "SELECT sum(p_churn), sum(p_churn * (1 - p_churn)) FROM truth.user_days")[0]
    assert_within_sampling_error(observed, expected, variance)
    assert {c for (c,) in rows(wh, "SELECT DISTINCT churn_cause FROM truth.users WHERE churn_cause IS NOT NULL")} == {
        "natural_decay", "bad_experience", "price_rise", "failed_search", "push_fatigue"}


def test_click_probabilities_match_the_clicks(wh):
    observed, expected, variance = rows(wh, """
        SELECT sum(clicked::INT), sum(p_click), sum(p_click * (1 - p_click))
        FROM ad_impressions JOIN truth.ad_impressions USING (impression_id) WHERE NOT in_holdout""")[0]
    assert_within_sampling_error(observed, expected, variance)
    observed, expected, variance = rows(wh, """
        SELECT sum(clicked::INT), sum(p_click), sum(p_click * (1 - p_click))
        FROM search_impressions JOIN truth.search_impressions USING (search_id, item_id)""")[0]
    assert_within_sampling_error(observed, expected, variance)


def test_ad_conversion_probabilities_match_the_conversions(wh):
    """A clicked slot's chance of its session buying the ad's item, from the truth's shown and
    hidden chances, matches the clicked slots' conversions; ghosts convert no more often than their
    hidden chance (the session viewed the item otherwise); showing never takes a purchase away."""
    observed, expected, variance = rows(wh, """
        WITH s AS (SELECT (t.p_convert_shown - (1 - t.p_click) * t.p_convert_hidden) / t.p_click AS p, a.converted
                   FROM ad_impressions a JOIN truth.ad_impressions t USING (impression_id) WHERE a.clicked)
        SELECT sum(converted::INT), sum(p), sum(p * (1 - p)) FROM s""")[0]
    assert_within_sampling_error(observed, expected, variance)
    observed, expected, variance = rows(wh, """
        SELECT sum(a.converted::INT), sum(t.p_convert_hidden), sum(t.p_convert_hidden * (1 - t.p_convert_hidden))
        FROM ad_impressions a JOIN truth.ad_impressions t USING (impression_id) WHERE a.in_holdout""")[0]
    assert observed <= expected + Z * math.sqrt(variance) + 1       # a purchase before its slot is not the slot's
    assert value(wh, "SELECT min(p_convert_shown - p_convert_hidden) FROM truth.ad_impressions") > -1e-12


def test_ad_clicks_fall_with_position_and_rise_with_quality(wh):
    by_position = [r[1] for r in rows(wh, """SELECT position, avg(clicked::INT) FROM ad_impressions
                                            WHERE NOT in_holdout GROUP BY 1 ORDER BY 1""")]
    assert by_position == sorted(by_position, reverse=True)
    assert value(wh, """SELECT corr(t.quality, a.clicked::INT) FROM ad_impressions a
                        JOIN truth.ads t USING (ad_id) WHERE NOT a.in_holdout""") > 0.05


def _experiment(wh, table, key, arm, outcome, truth_uplift):
    (treated_rate, n_t), (control_rate, n_c) = rows(wh, f"""
        SELECT avg({outcome}::INT), count(*) FROM {table} GROUP BY {arm} ORDER BY {arm} DESC""")
    true_mean = value(wh, f"SELECT avg({truth_uplift}) FROM {table} JOIN truth.{table} USING ({key})")
    standard_error = math.sqrt(treated_rate * (1 - treated_rate) / n_t + control_rate * (1 - control_rate) / n_c)
    return treated_rate - control_rate, true_mean, standard_error


def test_randomised_coupons_recover_the_true_uplift(wh):
    measured, truth, standard_error = _experiment(wh, "promotions", "promotion_id", "coupon", "purchased", "uplift")
    assert truth > 0.01
    assert abs(measured - truth) <= Z * standard_error


def test_randomised_pushes_recover_the_true_uplift_and_some_users_are_put_off(wh):
    measured, truth, standard_error = _experiment(wh, "pushes", "push_id", "treated", "converted", "uplift")
    assert abs(measured - truth) <= Z * standard_error
    assert value(wh, "SELECT avg((uplift < 0)::INT) FROM truth.pushes JOIN pushes USING (push_id) "
                     "WHERE uplift <> 0") > 0.05


def test_each_push_campaign_moves_its_own_users(wh):
    """What a push says changes whom it moves: "we miss you" works best on the fading, "weekend
    deals" on the price-sensitive; the same user can be put off by one campaign and not another."""
    effect = dict(rows(wh, """SELECT p.campaign || CASE WHEN u.fade > 0 THEN ' fading' ELSE '' END, avg(t.push_effect)
                              FROM pushes p JOIN truth.pushes t USING (push_id) JOIN truth.users u USING (user_id)
                              GROUP BY 1"""))
    assert effect["we_miss_you fading"] - effect["we_miss_you"] > effect["new_arrivals fading"] - effect["new_arrivals"]
    sensitive = dict(rows(wh, """SELECT p.campaign, corr(t.push_effect, ln(u.price_sensitivity))
                                 FROM pushes p JOIN truth.pushes t USING (push_id) JOIN truth.users u USING (user_id)
                                 GROUP BY 1"""))
    assert sensitive["weekend_deals"] > sensitive["new_arrivals"]
    assert value(wh, """SELECT count(*) FROM (SELECT p.user_id FROM pushes p JOIN truth.pushes t USING (push_id)
                        GROUP BY 1 HAVING min(t.push_effect) < 0 AND max(t.push_effect) > 0)""") > 0


def test_sessions_follow_their_expected_count_and_the_weekly_cycle(wh):
    by_dow = rows(wh, """
        WITH sessions AS (SELECT CAST(min(ts) AS DATE) AS day, count(DISTINCT session_id) AS n
                          FROM events GROUP BY CAST(ts AS DATE)),
             expected AS (SELECT day, sum(expected_sessions) AS mean, count(*) AS users
                          FROM truth.user_days GROUP BY day)
        SELECT isodow(day), sum(n), sum(mean), sum(n) / sum(users)
        FROM expected LEFT JOIN sessions USING (day) GROUP BY 1 ORDER BY 1""")
    for _, observed, expected, _ in by_dow:
        assert_within_sampling_error(observed, expected, expected)     # Poisson counts
    per_live_user = {dow: rate for dow, _, _, rate in by_dow}
    assert per_live_user[6] > 1.12 * per_live_user[3]    # Saturday busier than Wednesday


def test_promotions_lift_an_items_views(wh):
    lift = value(wh, """
        WITH daily AS (
            SELECT p.item_id, p.on_promo, count(e.event_id) AS views
            FROM prices p LEFT JOIN events e ON e.item_id = p.item_id AND e.event_type = 'view'
                 AND CAST(e.ts AS DATE) = p.day
            GROUP BY p.item_id, p.day, p.on_promo),
        per_item AS (
            SELECT item_id, avg(views) FILTER (WHERE on_promo) AS promo,
                   avg(views) FILTER (WHERE NOT on_promo) AS regular
            FROM daily GROUP BY item_id HAVING promo IS NOT NULL AND regular > 0)
        SELECT sum(promo) / sum(regular) FROM per_item""")
    assert lift > 1.05


def test_ratings_follow_quality_and_text_follows_its_aspects(wh):
    assert value(wh, "SELECT corr(r.rating, t.quality) FROM reviews r JOIN truth.items t USING (item_id)") > 0.3
    assert value(wh, "SELECT corr(r.rating, t.sentiment) FROM reviews r JOIN truth.reviews t USING (review_id)") > 0.8
    # every review mentions one to three distinct aspects, and each aspect's sentence says its polarity
    assert rows(wh, """SELECT min(n), max(n), bool_and(distinct_n = n) FROM (
        SELECT review_id, count(*) AS n, count(DISTINCT aspect) AS distinct_n FROM truth.review_aspects GROUP BY 1)
        """)[0] == (1, 3, True)
    assert value(wh, "SELECT count(*) FROM reviews WHERE review_id NOT IN (SELECT review_id FROM truth.review_aspects)") == 0
    assert value(wh, """SELECT corr(a.sentiment, r.rating) FROM truth.review_aspects a JOIN reviews r USING (review_id)
                        WHERE aspect = 'quality'""") > 0.5
    # text is not a lookup of the rating: mixed reviews, and sarcasm only in unhappy ones
    mixed = value(wh, """SELECT avg(mixed::INT) FROM (SELECT review_id, count(DISTINCT polarity)
                         FILTER (WHERE polarity <> 'neutral') = 2 AS mixed FROM truth.review_aspects GROUP BY 1)""")
    assert 0.05 < mixed < 0.5
    assert rows(wh, "SELECT bool_and(r.rating <= 2), count(*) > 0 FROM truth.reviews t JOIN reviews r USING (review_id) "
                    "WHERE t.sarcastic")[0] == (True, True)
    assert value(wh, "SELECT avg((text ILIKE '%But %')::INT) FROM reviews") > 0.03


def test_truth_keeps_each_items_category_and_defects(wh):
    assert value(wh, "SELECT count(*) FROM items i JOIN truth.items t USING (item_id) "
                     "WHERE i.category <> t.category OR i.subcategory <> t.subcategory") == 0
    share, drop = rows(wh, "SELECT avg((defect_ts IS NOT NULL)::INT), min(quality_drop) FILTER (WHERE defect_ts IS NOT NULL) "
                           "FROM truth.items t JOIN items i USING (item_id) WHERE i.launch_ts < (SELECT min(ts) FROM events)")[0]
    assert 0.01 < share < 0.1 and drop > 0


def test_text_carries_the_category(wh):
    """A bag-of-words nearest-centroid classifier on titles+descriptions recovers the category."""
    items = rows(wh, "SELECT lower(title || ' ' || description), category FROM items ORDER BY item_id")
    words = [set(text.replace(",", " ").replace(".", " ").split()) for text, _ in items]
    categories = [category for _, category in items]
    half = len(items) // 2
    votes: dict[str, dict[str, int]] = {}
    for tokens, category in zip(words[:half], categories[:half]):
        for token in tokens:
            votes.setdefault(token, {}).setdefault(category, 0)
            votes[token][category] += 1
    correct = 0
    for tokens, category in zip(words[half:], categories[half:]):
        score: dict[str, float] = {}
        for token in tokens:
            counts = votes.get(token, {})
            for c, n in counts.items():
                score[c] = score.get(c, 0) + n / sum(counts.values())
        correct += max(score, key=score.get) == category if score else 0
    assert correct / (len(items) - half) > 0.9


def test_queries_are_built_from_the_intended_item(wh):
    """A query names the product's own noun, which its listing may leave out or call otherwise."""
    share = value(wh, """
        SELECT avg(CAST(len(list_filter(string_split(s.query, ' '),
                    lambda w: contains(lower(i.title || ' ' || i.category || ' ' || n.noun), w)))
                   = len(string_split(s.query, ' ')) AS INT))
        FROM searches s JOIN truth.searches t USING (search_id) JOIN items i ON i.item_id = t.intended_item_id
        JOIN truth.items n ON n.item_id = i.item_id""")
    assert share > 0.95


def test_failed_searches_and_bad_experiences_raise_churn(wh):
    assert value(wh, "SELECT corr(hazard_failed_search, p_churn) FROM truth.user_days") > 0.2
    assert value(wh, "SELECT corr(hazard_bad_experience, p_churn) FROM truth.user_days") > 0.2


def test_same_seed_same_tables_and_another_seed_differs(tmp_path):
    config = SimulationConfig(users=300, days=15, seed=5)
    fingerprints = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        path = tmp_path / f"{name}.duckdb"
        simulate(SimulationConfig(users=config.users, days=config.days, seed=seed), path)
        with duckdb.connect(str(path), read_only=True) as con:
            fingerprints.append([
                con.execute(f"SELECT count(*), sum(hash(t)) FROM {table} t").fetchall()[0]
                for table in ("users", "items", "events", "searches", "search_impressions", "ad_impressions",
                              "pushes", "promotions", "reviews", "prices", "truth.user_days", "truth.users")
            ])
    assert fingerprints[0] == fingerprints[1]
    assert fingerprints[0] != fingerprints[2]
    assert np.all(np.array([c for c, _ in fingerprints[0]]) > 0)


def test_category_pages_and_carousels_move_nothing_else_in_the_shop(tmp_path):
    """Pages and carousels draw from their own streams and open no view: a shop without them has
    the same rows."""
    fingerprints = []
    for name, rate in (("with", 0.5), ("without", 0.0)):
        path = tmp_path / f"{name}.duckdb"
        simulate(SimulationConfig(users=300, days=15, seed=5, behaviour=Behaviour(page_rate=rate, carousel_rate=rate)),
                 path)
        with duckdb.connect(str(path), read_only=True) as con:
            fingerprints.append([con.execute(f"SELECT count(*), sum(hash(t)) FROM {table} t").fetchall()[0]
                                 for table in ("events", "searches", "search_impressions", "ad_impressions", "pushes",
                                               "promotions", "reviews", "truth.user_days", "truth.session_steps")])
            fingerprints[-1].append(con.execute("SELECT count(*) > 0 FROM pages").fetchall()[0][0]
                                    and con.execute("SELECT count(*) > 0 FROM carousels").fetchall()[0][0])
    assert fingerprints[0][:-1] == fingerprints[1][:-1]
    assert fingerprints[0][-1] and not fingerprints[1][-1]
