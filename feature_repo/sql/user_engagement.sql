-- user_engagement: pushes and their opens, ad click-through, likes, favourites, shares, reviews
-- and searches. A push counts (with its open) the night after it was sent; holdout ad slots were
-- never shown and do not count; a search "without a click" had no result clicked.
-- The "_decayed" counts weigh each past push or unclicked search by 0.5 ** (days ago / 21): a
-- customer's memory of trouble, fading with a three-week half-life, rather than a hard window.
WITH facts AS (
    SELECT user_id, CAST(ts AS DATE) + 1 AS day, treated::INT AS pushes, opened::INT AS opens,
           0 AS impressions, 0 AS clicks, 0 AS likes, 0 AS favorites, 0 AS shares,
           0 AS reviews, 0 AS rating_sum, 0 AS searches, 0 AS unclicked_searches
    FROM pushes WHERE treated
    UNION ALL
    SELECT user_id, CAST(ts AS DATE) + 1, 0, 0, 1, clicked::INT, 0, 0, 0, 0, 0, 0, 0
    FROM ad_impressions WHERE NOT in_holdout
    UNION ALL
    SELECT user_id, CAST(ts AS DATE) + 1, 0, 0, 0, 0, (event_type = 'like')::INT,
           (event_type = 'favorite')::INT, (event_type = 'share')::INT, 0, 0, 0, 0
    FROM events WHERE event_type IN ('like', 'favorite', 'share')
    UNION ALL
    SELECT user_id, CAST(ts AS DATE) + 1, 0, 0, 0, 0, 0, 0, 0, 1, rating, 0, 0 FROM reviews
    UNION ALL
    SELECT s.user_id, CAST(s.ts AS DATE) + 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
           (NOT EXISTS (SELECT 1 FROM search_impressions i WHERE i.search_id = s.search_id AND i.clicked))::INT
    FROM searches s
),
daily AS (
    SELECT user_id, day, sum(pushes) AS pushes, sum(opens) AS opens, sum(impressions) AS impressions,
           sum(clicks) AS clicks, sum(likes) AS likes, sum(favorites) AS favorites, sum(shares) AS shares,
           sum(reviews) AS reviews, sum(rating_sum) AS rating_sum, sum(searches) AS searches,
           sum(unclicked_searches) AS unclicked_searches
    FROM facts GROUP BY ALL
),
filled AS (      -- age: days since the user's first snapshot, the origin of the decay weights
    SELECT g.user_id, g.day, date_diff('day', min(g.day) OVER (PARTITION BY g.user_id), g.day) AS age,
           d.pushes, d.opens, d.impressions, d.clicks, d.likes, d.favorites, d.shares, d.reviews,
           d.rating_sum, d.searches, d.unclicked_searches
    FROM user_snapshots g LEFT JOIN daily d USING (user_id, day)
)
SELECT user_id, CAST(day AS TIMESTAMPTZ) AS event_timestamp,
       CAST(coalesce(sum(pushes) OVER w90, 0) AS DOUBLE) AS pushes_received_90d,
       CAST(sum(opens) OVER w90 / nullif(sum(pushes) OVER w90, 0) AS DOUBLE) AS push_open_rate_90d,
       CAST(coalesce(sum(impressions) OVER w30, 0) AS DOUBLE) AS ad_impressions_30d,
       CAST(sum(clicks) OVER w30 / nullif(sum(impressions) OVER w30, 0) AS DOUBLE) AS ad_ctr_30d,
       CAST(coalesce(sum(likes) OVER w30, 0) AS DOUBLE) AS likes_30d,
       CAST(coalesce(sum(favorites) OVER w30, 0) AS DOUBLE) AS favorites_30d,
       CAST(coalesce(sum(shares) OVER w30, 0) AS DOUBLE) AS shares_30d,
       CAST(coalesce(sum(reviews) OVER w90, 0) AS DOUBLE) AS reviews_written_90d,
       CAST(sum(rating_sum) OVER w90 / nullif(sum(reviews) OVER w90, 0) AS DOUBLE) AS avg_rating_given_90d,
       CAST(coalesce(sum(searches) OVER w30, 0) AS DOUBLE) AS searches_30d,
       CAST(coalesce(sum(unclicked_searches) OVER w30, 0) AS DOUBLE) AS searches_without_click_30d,
       CAST(coalesce(sum(pushes) OVER w2, 0) AS DOUBLE) AS pushes_received_2d,
       CAST(coalesce(sum(pushes * pow(2, age / 21)) OVER past, 0) / pow(2, age / 21) AS DOUBLE)
           AS pushes_received_decayed,
       CAST(coalesce(sum(unclicked_searches * pow(2, age / 21)) OVER past, 0) / pow(2, age / 21) AS DOUBLE)
           AS searches_without_click_decayed
FROM filled
WINDOW past AS (PARTITION BY user_id ORDER BY day ROWS UNBOUNDED PRECEDING),
       w2 AS (PARTITION BY user_id ORDER BY day RANGE BETWEEN INTERVAL 1 DAY PRECEDING AND CURRENT ROW),
       w30 AS (PARTITION BY user_id ORDER BY day RANGE BETWEEN INTERVAL 29 DAYS PRECEDING AND CURRENT ROW),
       w90 AS (PARTITION BY user_id ORDER BY day RANGE BETWEEN INTERVAL 89 DAYS PRECEDING AND CURRENT ROW)
