-- user_taste: what a user has done in each category lately: views, carts, purchases and
-- engagements (likes, favourites, shares), each weighed by 0.5 ** (days ago / 30), a month's
-- half-life. Decay is the same for every category of a user, so the shares between categories
-- change only on the days the user does something: every category the user has touched is
-- rewritten on those days (the night after the event) and no other, and a reader at T takes the
-- newest row before T. Its counts are then those of that night, older by the user's days since
-- the last event (user_activity), the same factor for every category. Items without a category
-- are left out; the view needs no TTL.
WITH facts AS (
    SELECT e.user_id, i.category, CAST(e.ts AS DATE) + 1 AS day,
           (e.event_type = 'view')::INT AS views, (e.event_type = 'cart')::INT AS carts,
           (e.event_type = 'purchase')::INT AS purchases,
           (e.event_type IN ('like', 'favorite', 'share'))::INT AS engagements
    FROM events e JOIN items i USING (item_id)
    WHERE e.event_type IN ('view', 'cart', 'purchase', 'like', 'favorite', 'share') AND i.category IS NOT NULL
),
daily AS (
    SELECT user_id, category, day, sum(views) AS views, sum(carts) AS carts, sum(purchases) AS purchases,
           sum(engagements) AS engagements
    FROM facts GROUP BY ALL
),
active_days AS (SELECT DISTINCT user_id, day FROM daily),
touched AS (SELECT user_id, category, min(day) AS since FROM daily GROUP BY ALL),
filled AS (       -- age: days since the user's first active day, the origin of the decay weights
    SELECT a.user_id, t.category, a.day, a.day - min(a.day) OVER (PARTITION BY a.user_id) AS age,
           coalesce(d.views, 0) AS views, coalesce(d.carts, 0) AS carts,
           coalesce(d.purchases, 0) AS purchases, coalesce(d.engagements, 0) AS engagements
    FROM active_days a JOIN touched t ON t.user_id = a.user_id AND t.since <= a.day
    LEFT JOIN daily d ON d.user_id = a.user_id AND d.category = t.category AND d.day = a.day
    WHERE a.day <= (SELECT max(day) FROM snapshot_days)
)
SELECT user_id, category, CAST(day AS TIMESTAMPTZ) AS event_timestamp,
       CAST(sum(views * pow(2, age / 30)) OVER past / pow(2, age / 30) AS DOUBLE) AS views_decayed,
       CAST(sum(carts * pow(2, age / 30)) OVER past / pow(2, age / 30) AS DOUBLE) AS carts_decayed,
       CAST(sum(purchases * pow(2, age / 30)) OVER past / pow(2, age / 30) AS DOUBLE) AS purchases_decayed,
       CAST(sum(engagements * pow(2, age / 30)) OVER past / pow(2, age / 30) AS DOUBLE) AS engagements_decayed
FROM filled
WINDOW past AS (PARTITION BY user_id, category ORDER BY day ROWS UNBOUNDED PRECEDING)
