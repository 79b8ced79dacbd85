-- user_recent_items: the RECENT_SLOTS items a user viewed, carted or bought last, newest first, each
-- once (recent_item_1..), and the items the user bought last (bought_item_1..), as item ids: numbers
-- that name items, not quantities. A row is written the night after a day with item events (stamped
-- the next 00:00 UTC, facts before it) and on no other, so a reader at T takes the newest row before
-- T and the view needs no TTL. Each list reads the user's latest 50 item events (purchases); an
-- empty slot is null.
WITH item_events AS (
    SELECT user_id, item_id, event_type, ts, event_id, CAST(ts AS DATE) + 1 AS day
    FROM events
    WHERE event_type IN ('view', 'cart', 'purchase') AND item_id IS NOT NULL
      AND CAST(ts AS DATE) + 1 <= (SELECT max(day) FROM snapshot_days)
),
engaged AS (      -- at the day's last event: the latest 50, newest first, each item at its newest place
    SELECT user_id, day, list_reverse(list(item_id) OVER latest) AS items
    FROM item_events
    WINDOW latest AS (PARTITION BY user_id ORDER BY ts, event_id ROWS BETWEEN 49 PRECEDING AND CURRENT ROW)
    QUALIFY row_number() OVER (PARTITION BY user_id, day ORDER BY ts DESC, event_id DESC) = 1
),
bought AS (
    SELECT user_id, day, list_reverse(list(item_id) OVER latest) AS items
    FROM item_events WHERE event_type = 'purchase'
    WINDOW latest AS (PARTITION BY user_id ORDER BY ts, event_id ROWS BETWEEN 49 PRECEDING AND CURRENT ROW)
    QUALIFY row_number() OVER (PARTITION BY user_id, day ORDER BY ts DESC, event_id DESC) = 1
),
distinct_items AS (
    SELECT e.user_id, e.day,
           list_filter(e.items, lambda x, i: list_position(e.items, x) = i) AS recent,
           list_filter(b.items, lambda x, i: list_position(b.items, x) = i) AS purchased
    FROM engaged e ASOF LEFT JOIN bought b ON b.user_id = e.user_id AND e.day >= b.day
)
SELECT user_id, CAST(day AS TIMESTAMPTZ) AS event_timestamp,
       CAST(recent[1] AS DOUBLE) AS recent_item_1, CAST(recent[2] AS DOUBLE) AS recent_item_2,
       CAST(recent[3] AS DOUBLE) AS recent_item_3, CAST(recent[4] AS DOUBLE) AS recent_item_4,
       CAST(recent[5] AS DOUBLE) AS recent_item_5,
       CAST(purchased[1] AS DOUBLE) AS bought_item_1, CAST(purchased[2] AS DOUBLE) AS bought_item_2,
       CAST(purchased[3] AS DOUBLE) AS bought_item_3, CAST(purchased[4] AS DOUBLE) AS bought_item_4,
       CAST(purchased[5] AS DOUBLE) AS bought_item_5
FROM distinct_items
