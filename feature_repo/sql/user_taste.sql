-- user_taste, user_brand_taste, user_price_taste: what a user has done lately in each value of a
-- facet of the item (category, brand or price band: the pipeline's TASTE_FACETS): views,
-- carts, purchases and engagements (likes, favourites, shares), each weighed by
-- 0.5 ** (days ago / 30), a month's half-life. Decay is the same for every value of a user, so
-- the shares between values change only on the days the user does something: every value the user
-- has touched is rewritten on those days (the night after the event) and no other, and a reader
-- at T takes the newest row before T. Its counts are then those of that night, older by the
-- user's days since the last event (user_activity), the same factor for every value. Events
-- without a value (an item without a category, a price without peers) are left out; the view
-- needs no TTL. The events (e) come with their item (i) and, for price bands, the median list
-- price of the item's peers that day (pp): the pipeline's EVENTS_SQL, EVENTS_WITH_PEERS_SQL.
WITH facts AS (
    SELECT e.user_id, {value} AS {facet}, CAST(e.ts AS DATE) + 1 AS day,
           (e.event_type = 'view')::INT AS views, (e.event_type = 'cart')::INT AS carts,
           (e.event_type = 'purchase')::INT AS purchases,
           (e.event_type IN ('like', 'favorite', 'share'))::INT AS engagements
    FROM {events}
    WHERE e.event_type IN ('view', 'cart', 'purchase', 'like', 'favorite', 'share') AND {value} IS NOT NULL
),
daily AS (
    SELECT user_id, {facet}, day, sum(views) AS views, sum(carts) AS carts, sum(purchases) AS purchases,
           sum(engagements) AS engagements
    FROM facts GROUP BY ALL
),
active_days AS (SELECT DISTINCT user_id, day FROM daily),
touched AS (SELECT user_id, {facet}, min(day) AS since FROM daily GROUP BY ALL),
filled AS (       -- age: days since the user's first active day, the origin of the decay weights
    SELECT a.user_id, t.{facet}, a.day, date_diff('day', min(a.day) OVER (PARTITION BY a.user_id), a.day) AS age,
           coalesce(d.views, 0) AS views, coalesce(d.carts, 0) AS carts,
           coalesce(d.purchases, 0) AS purchases, coalesce(d.engagements, 0) AS engagements
    FROM active_days a JOIN touched t ON t.user_id = a.user_id AND t.since <= a.day
    LEFT JOIN daily d ON d.user_id = a.user_id AND d.{facet} = t.{facet} AND d.day = a.day
    WHERE a.day <= (SELECT max(day) FROM snapshot_days)
)
SELECT user_id, {facet}, CAST(day AS TIMESTAMPTZ) AS event_timestamp,
       CAST(sum(views * pow(2, age / 30)) OVER past / pow(2, age / 30) AS DOUBLE) AS views_decayed,
       CAST(sum(carts * pow(2, age / 30)) OVER past / pow(2, age / 30) AS DOUBLE) AS carts_decayed,
       CAST(sum(purchases * pow(2, age / 30)) OVER past / pow(2, age / 30) AS DOUBLE) AS purchases_decayed,
       CAST(sum(engagements * pow(2, age / 30)) OVER past / pow(2, age / 30) AS DOUBLE) AS engagements_decayed
FROM filled
WINDOW past AS (PARTITION BY user_id, {facet} ORDER BY day ROWS UNBOUNDED PRECEDING)
