-- item_stats: popularity, conversion, ratings and price movement, per item and snapshot day D.
-- The current price is the list price of day D - 1 (the last full day before D), carried
-- forward over days without a price; its change is measured against the mean list price of the
-- 30 days D - 30 .. D - 1.
WITH grid AS (
    SELECT i.item_id, s.day, i.launch_ts FROM items i JOIN snapshot_days s ON i.launch_ts < s.day
),
daily AS (
    SELECT item_id, CAST(ts AS DATE) + 1 AS day,
           count(*) FILTER (WHERE event_type = 'view') AS views,
           count(*) FILTER (WHERE event_type = 'purchase') AS purchases
    FROM events GROUP BY ALL
),
daily_reviews AS (
    SELECT item_id, CAST(ts AS DATE) + 1 AS day, count(*) AS reviews, sum(rating) AS rating_sum
    FROM reviews GROUP BY ALL
),
filled AS (
    SELECT g.item_id, g.day, g.launch_ts, coalesce(d.views, 0) AS views,
           coalesce(d.purchases, 0) AS purchases, coalesce(r.reviews, 0) AS reviews,
           coalesce(r.rating_sum, 0) AS rating_sum, p.price AS list_price
    FROM grid g LEFT JOIN daily d USING (item_id, day) LEFT JOIN daily_reviews r USING (item_id, day)
    LEFT JOIN prices p ON p.item_id = g.item_id AND p.day = g.day - 1
)
SELECT item_id, CAST(day AS TIMESTAMPTZ) AS event_timestamp,
       CAST(sum(views) OVER w7 AS DOUBLE) AS views_7d,
       CAST(sum(purchases) OVER w7 AS DOUBLE) AS purchases_7d,
       CAST(sum(purchases) OVER w30 AS DOUBLE) AS purchases_30d,
       CAST(sum(purchases) OVER w30 / nullif(sum(views) OVER w30, 0) AS DOUBLE) AS conversion_rate_30d,
       CAST(sum(rating_sum) OVER history / nullif(sum(reviews) OVER history, 0) AS DOUBLE) AS avg_rating,
       CAST(sum(reviews) OVER history AS DOUBLE) AS review_count,
       last_value(list_price IGNORE NULLS) OVER history AS current_price,
       last_value(list_price IGNORE NULLS) OVER history / avg(list_price) OVER w30 - 1 AS price_change_vs_30d_avg,
       (epoch(CAST(day AS TIMESTAMPTZ)) - epoch(launch_ts)) / 86400.0 AS days_since_launch
FROM filled
WINDOW w7 AS (PARTITION BY item_id ORDER BY day RANGE BETWEEN INTERVAL 6 DAYS PRECEDING AND CURRENT ROW),
       w30 AS (PARTITION BY item_id ORDER BY day RANGE BETWEEN INTERVAL 29 DAYS PRECEDING AND CURRENT ROW),
       history AS (PARTITION BY item_id ORDER BY day ROWS UNBOUNDED PRECEDING)
