-- user_category: how much a user engages with each category (views, carts, purchases, ads of its
-- items shown and clicked) over 90 days. The counts change only the night after an event and the
-- night it leaves the window, so a row is written on those days alone, up to the last snapshot
-- day: the newest row at or before T holds the counts at T, and the view needs no TTL. A pair
-- whose window has emptied gets a row of zeros; a pair never seen has no row (null). Items
-- without a category (imported catalogues may lack one) are left out.
WITH facts AS (
    SELECT e.user_id, i.category, CAST(e.ts AS DATE) + 1 AS day,
           (e.event_type = 'view')::INT AS views, (e.event_type = 'cart')::INT AS carts,
           (e.event_type = 'purchase')::INT AS purchases, 0 AS ad_impressions, 0 AS ad_clicks
    FROM events e JOIN items i USING (item_id)
    WHERE e.event_type IN ('view', 'cart', 'purchase') AND i.category IS NOT NULL
    UNION ALL
    SELECT a.user_id, i.category, CAST(a.ts AS DATE) + 1, 0, 0, 0, 1, a.clicked::INT
    FROM ad_impressions a JOIN ads USING (ad_id) JOIN items i ON i.item_id = ads.item_id
    WHERE NOT a.in_holdout AND i.category IS NOT NULL
),
daily AS (
    SELECT user_id, category, day, sum(views) AS views, sum(carts) AS carts, sum(purchases) AS purchases,
           sum(ad_impressions) AS ad_impressions, sum(ad_clicks) AS ad_clicks
    FROM facts GROUP BY ALL
),
changes AS (      -- each day's counts enter the window on that day and leave it 90 days later
    SELECT * FROM daily
    UNION ALL
    SELECT user_id, category, day + 90, 0, 0, 0, 0, 0 FROM daily
),
per_day AS (
    SELECT user_id, category, day, sum(views) AS views, sum(carts) AS carts, sum(purchases) AS purchases,
           sum(ad_impressions) AS ad_impressions, sum(ad_clicks) AS ad_clicks
    FROM changes WHERE day <= (SELECT max(day) FROM snapshot_days) GROUP BY ALL
)
SELECT user_id, category, CAST(day AS TIMESTAMPTZ) AS event_timestamp,
       CAST(sum(views) OVER w90 AS DOUBLE) AS views_90d,
       CAST(sum(carts) OVER w90 AS DOUBLE) AS carts_90d,
       CAST(sum(purchases) OVER w90 AS DOUBLE) AS purchases_90d,
       CAST(sum(ad_impressions) OVER w90 AS DOUBLE) AS ad_impressions_90d,
       CAST(sum(ad_clicks) OVER w90 AS DOUBLE) AS ad_clicks_90d
FROM per_day
WINDOW w90 AS (PARTITION BY user_id, category ORDER BY day RANGE BETWEEN INTERVAL 89 DAYS PRECEDING AND CURRENT ROW)
