-- user_experience: what the customer went through, the marks that precede leaving.
-- Price rises are taken as seen: each view carries its category's list-price rise over the 28
-- days up to the day of the view (promotions left out), and the view averages them over 30 days.
-- A low-rated purchase is one of an item whose mean rating, from reviews before the day of the
-- purchase, was below 3; low ratings given are the customer's own reviews of 1 or 2 stars.
WITH category_level AS (
    SELECT i.category, p.day, avg(p.price / i.base_price) AS level
    FROM prices p JOIN items i USING (item_id)
    WHERE NOT p.on_promo AND i.category IS NOT NULL
    GROUP BY ALL
),
category_rise AS (
    SELECT category, day,
           greatest(0, ln(level / first_value(level) OVER (
               PARTITION BY category ORDER BY day
               RANGE BETWEEN INTERVAL 28 DAYS PRECEDING AND CURRENT ROW))) AS rise
    FROM category_level
),
item_rating AS (
    SELECT item_id, day,
           sum(rating_sum) OVER w / sum(reviews) OVER w AS mean_rating
    FROM (SELECT item_id, CAST(ts AS DATE) + 1 AS day, sum(rating) AS rating_sum, count(*) AS reviews
          FROM reviews GROUP BY ALL)
    WINDOW w AS (PARTITION BY item_id ORDER BY day ROWS UNBOUNDED PRECEDING)
),
purchases AS (
    SELECT e.user_id, e.item_id, CAST(e.ts AS DATE) AS purchase_day FROM events e WHERE e.event_type = 'purchase'
),
facts AS (
    SELECT e.user_id, CAST(e.ts AS DATE) + 1 AS day, r.rise AS rise, 1 AS priced_views,
           0 AS low_rated_purchases, 0 AS low_ratings
    FROM events e JOIN items i USING (item_id)
    JOIN category_rise r ON r.category = i.category AND r.day = CAST(e.ts AS DATE)
    WHERE e.event_type = 'view'
    UNION ALL
    SELECT p.user_id, p.purchase_day + 1, 0, 0, (r.mean_rating < 3)::INT, 0
    FROM purchases p ASOF JOIN item_rating r ON p.item_id = r.item_id AND p.purchase_day >= r.day
    UNION ALL
    SELECT user_id, CAST(ts AS DATE) + 1, 0, 0, 0, 1 FROM reviews WHERE rating <= 2
),
daily AS (
    SELECT user_id, day, sum(rise) AS rise, sum(priced_views) AS priced_views,
           sum(low_rated_purchases) AS low_rated_purchases, sum(low_ratings) AS low_ratings
    FROM facts GROUP BY ALL
),
filled AS (
    SELECT g.user_id, g.day, d.* EXCLUDE (user_id, day)
    FROM user_snapshots g LEFT JOIN daily d USING (user_id, day)
)
SELECT user_id, CAST(day AS TIMESTAMPTZ) AS event_timestamp,
       CAST(sum(rise) OVER w30 / nullif(sum(priced_views) OVER w30, 0) AS DOUBLE) AS price_rise_seen_30d,
       CAST(coalesce(sum(low_rated_purchases) OVER w90, 0) AS DOUBLE) AS low_rated_purchases_90d,
       CAST(coalesce(sum(low_ratings) OVER w90, 0) AS DOUBLE) AS low_ratings_given_90d
FROM filled
WINDOW w30 AS (PARTITION BY user_id ORDER BY day RANGE BETWEEN INTERVAL 29 DAYS PRECEDING AND CURRENT ROW),
       w90 AS (PARTITION BY user_id ORDER BY day RANGE BETWEEN INTERVAL 89 DAYS PRECEDING AND CURRENT ROW)
