-- user_activity: event counts over trailing windows, recency, and the whole purchase history
-- (purchase days and the age of the first purchase, what BG/NBD-style models live on), per user
-- and snapshot day D.
-- A day's events become known at the next midnight (day + 1); windows of N days at D cover
-- D - N <= ts < D. Users appear from the first snapshot after they signed up.
-- Distinct categories are counted without lists: a category active on (known) day k covers the
-- snapshots k .. k + 29, cut short where its next active day takes over, so the spans of one
-- user never overlap and a running sum of +1 at each span's start and -1 at its end counts them.
WITH daily AS (
    SELECT e.user_id, CAST(e.ts AS DATE) + 1 AS day,
           count(*) FILTER (WHERE e.event_type = 'view') AS views,
           count(*) FILTER (WHERE e.event_type = 'cart') AS carts,
           count(*) FILTER (WHERE e.event_type = 'purchase') AS purchases,
           count(DISTINCT e.session_id) AS sessions,
           max(e.ts) AS last_event_ts,
           max(e.ts) FILTER (WHERE e.event_type = 'purchase') AS last_purchase_ts,
           min(e.ts) FILTER (WHERE e.event_type = 'purchase') AS first_purchase_ts
    FROM events e
    GROUP BY ALL
),
category_days AS (
    SELECT DISTINCT e.user_id, i.category, CAST(e.ts AS DATE) + 1 AS day
    FROM events e JOIN items i USING (item_id) WHERE i.category IS NOT NULL
),
category_spans AS (
    SELECT user_id, day AS first_day,
           least(day + 30, lead(day) OVER (PARTITION BY user_id, category ORDER BY day)) AS end_day
    FROM category_days
),
category_deltas AS (
    SELECT user_id, day, sum(delta) AS delta FROM (
        SELECT user_id, first_day AS day, 1 AS delta FROM category_spans
        UNION ALL
        SELECT user_id, end_day, -1 FROM category_spans)
    GROUP BY ALL
),
filled AS (
    SELECT g.user_id, g.day, coalesce(d.views, 0) AS views, coalesce(d.carts, 0) AS carts,
           coalesce(d.purchases, 0) AS purchases, coalesce(d.sessions, 0) AS sessions,
           coalesce(c.delta, 0) AS category_delta, d.last_event_ts, d.last_purchase_ts, d.first_purchase_ts
    FROM user_snapshots g LEFT JOIN daily d USING (user_id, day) LEFT JOIN category_deltas c USING (user_id, day)
)
SELECT user_id, CAST(day AS TIMESTAMPTZ) AS event_timestamp,
       CAST(sum(views) OVER w7 AS DOUBLE) AS views_7d,
       CAST(sum(views) OVER w30 AS DOUBLE) AS views_30d,
       CAST(sum(carts) OVER w7 AS DOUBLE) AS carts_7d,
       CAST(sum(carts) OVER w30 AS DOUBLE) AS carts_30d,
       CAST(sum(purchases) OVER w7 AS DOUBLE) AS purchases_7d,
       CAST(sum(purchases) OVER w30 AS DOUBLE) AS purchases_30d,
       CAST(sum(purchases) OVER w90 AS DOUBLE) AS purchases_90d,
       CAST(sum(sessions) OVER w30 AS DOUBLE) AS sessions_30d,
       CAST(sum(category_delta) OVER history AS DOUBLE) AS distinct_categories_30d,
       (epoch(CAST(day AS TIMESTAMPTZ)) - epoch(max(last_event_ts) OVER history)) / 86400.0
           AS days_since_last_event,
       (epoch(CAST(day AS TIMESTAMPTZ)) - epoch(max(last_purchase_ts) OVER history)) / 86400.0
           AS days_since_last_purchase,
       CAST(sum((purchases > 0)::INT) OVER history AS DOUBLE) AS purchase_days_total,
       (epoch(CAST(day AS TIMESTAMPTZ)) - epoch(min(first_purchase_ts) OVER history)) / 86400.0
           AS days_since_first_purchase
FROM filled
WINDOW w7 AS (PARTITION BY user_id ORDER BY day RANGE BETWEEN INTERVAL 6 DAYS PRECEDING AND CURRENT ROW),
       w30 AS (PARTITION BY user_id ORDER BY day RANGE BETWEEN INTERVAL 29 DAYS PRECEDING AND CURRENT ROW),
       w90 AS (PARTITION BY user_id ORDER BY day RANGE BETWEEN INTERVAL 89 DAYS PRECEDING AND CURRENT ROW),
       history AS (PARTITION BY user_id ORDER BY day ROWS UNBOUNDED PRECEDING)
