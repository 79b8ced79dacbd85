-- user_activity: event counts over trailing windows and recency, per user and snapshot day D.
-- A day's events become known at the next midnight (day + 1); windows of N days at D cover
-- D - N <= ts < D. Users appear from the first snapshot after they signed up.
WITH daily AS (
    SELECT e.user_id, CAST(e.ts AS DATE) + 1 AS day,
           count(*) FILTER (WHERE e.event_type = 'view') AS views,
           count(*) FILTER (WHERE e.event_type = 'cart') AS carts,
           count(*) FILTER (WHERE e.event_type = 'purchase') AS purchases,
           count(DISTINCT e.session_id) AS sessions,
           list(DISTINCT i.category) FILTER (WHERE i.category IS NOT NULL) AS categories,
           max(e.ts) AS last_event_ts,
           max(e.ts) FILTER (WHERE e.event_type = 'purchase') AS last_purchase_ts
    FROM events e LEFT JOIN items i USING (item_id)
    GROUP BY ALL
),
filled AS (
    SELECT g.user_id, g.day, coalesce(d.views, 0) AS views, coalesce(d.carts, 0) AS carts,
           coalesce(d.purchases, 0) AS purchases, coalesce(d.sessions, 0) AS sessions,
           coalesce(d.categories, []) AS categories, d.last_event_ts, d.last_purchase_ts
    FROM user_snapshots g LEFT JOIN daily d USING (user_id, day)
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
       CAST(len(list_distinct(flatten(list(categories) OVER w30))) AS DOUBLE) AS distinct_categories_30d,
       (epoch(CAST(day AS TIMESTAMPTZ)) - epoch(max(last_event_ts) OVER history)) / 86400.0
           AS days_since_last_event,
       (epoch(CAST(day AS TIMESTAMPTZ)) - epoch(max(last_purchase_ts) OVER history)) / 86400.0
           AS days_since_last_purchase
FROM filled
WINDOW w7 AS (PARTITION BY user_id ORDER BY day RANGE BETWEEN INTERVAL 6 DAYS PRECEDING AND CURRENT ROW),
       w30 AS (PARTITION BY user_id ORDER BY day RANGE BETWEEN INTERVAL 29 DAYS PRECEDING AND CURRENT ROW),
       w90 AS (PARTITION BY user_id ORDER BY day RANGE BETWEEN INTERVAL 89 DAYS PRECEDING AND CURRENT ROW),
       history AS (PARTITION BY user_id ORDER BY day ROWS UNBOUNDED PRECEDING)
