-- user_experience: what the customer went through, the marks that precede leaving.
-- Price rises are taken as seen: each view carries its category's list-price rise over the 28
-- days up to the day of the view (promotions left out), and the view averages them over 30 days.
-- The price rise in the user's taste is today's rise (prices known by the night before) of each
-- category the user has ever viewed, weighed by the user's views of it so far.
-- A low-rated purchase is one of an item whose mean rating, from reviews before the day of the
-- purchase, was below 3; low ratings given are the customer's own reviews of 1 or 2 stars. Their
-- "_decayed" counts weigh each by 0.5 ** (days ago / 21), a three-week fading memory.
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
category_views AS (
    SELECT e.user_id, i.category, CAST(e.ts AS DATE) + 1 AS day, count(*) AS views
    FROM events e JOIN items i USING (item_id)
    WHERE e.event_type = 'view' AND i.category IS NOT NULL
    GROUP BY ALL
),
taste AS (        -- per user and category, the views so far, on each day they change
    SELECT user_id, category, day, sum(views) OVER (PARTITION BY user_id, category ORDER BY day) AS views
    FROM category_views
),
taste_rise AS (
    SELECT g.user_id, g.day, sum(t.views * r.rise) / sum(t.views) AS rise
    FROM user_snapshots g
    JOIN (SELECT DISTINCT user_id, category FROM category_views) c USING (user_id)
    ASOF JOIN taste t ON t.user_id = g.user_id AND t.category = c.category AND t.day <= g.day
    JOIN category_rise r ON r.category = c.category AND r.day + 1 = g.day
    GROUP BY ALL
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
filled AS (       -- age: days since the user's first snapshot, the origin of the decay weights
    SELECT g.user_id, g.day, date_diff('day', min(g.day) OVER (PARTITION BY g.user_id), g.day) AS age,
           d.rise, d.priced_views, d.low_rated_purchases, d.low_ratings, t.rise AS taste_rise
    FROM user_snapshots g LEFT JOIN daily d USING (user_id, day) LEFT JOIN taste_rise t USING (user_id, day)
)
SELECT user_id, CAST(day AS TIMESTAMPTZ) AS event_timestamp,
       CAST(sum(rise) OVER w30 / nullif(sum(priced_views) OVER w30, 0) AS DOUBLE) AS price_rise_seen_30d,
       CAST(taste_rise AS DOUBLE) AS price_rise_in_taste,
       CAST(coalesce(sum(low_rated_purchases) OVER w90, 0) AS DOUBLE) AS low_rated_purchases_90d,
       CAST(coalesce(sum(low_ratings) OVER w90, 0) AS DOUBLE) AS low_ratings_given_90d,
       CAST(coalesce(sum(low_rated_purchases * pow(2, age / 21)) OVER past, 0) / pow(2, age / 21) AS DOUBLE)
           AS low_rated_purchases_decayed,
       CAST(coalesce(sum(low_ratings * pow(2, age / 21)) OVER past, 0) / pow(2, age / 21) AS DOUBLE)
           AS low_ratings_given_decayed
FROM filled
WINDOW past AS (PARTITION BY user_id ORDER BY day ROWS UNBOUNDED PRECEDING),
       w30 AS (PARTITION BY user_id ORDER BY day RANGE BETWEEN INTERVAL 29 DAYS PRECEDING AND CURRENT ROW),
       w90 AS (PARTITION BY user_id ORDER BY day RANGE BETWEEN INTERVAL 89 DAYS PRECEDING AND CURRENT ROW)
