-- user_realtime: the history of the stream's session counters (feature_repo/stream.py), one row per
-- navigation event (a search, view, cart or purchase), stamped at it: what the consumer pushed
-- then. Likes, favourites and shares do not move them. A session is the event's session_id, or,
-- without one, a run of events no more than 30 minutes apart (the consumer's SESSION_GAP).
-- last_action: 1 search, 2 view, 3 cart, 4 purchase (names.NAVIGATION, 1-based; 0: none yet);
-- last_view_item: the item of the session's latest view (NaN: none yet).
WITH steps AS (
    SELECT user_id, session_id, ts, event_type, event_id AS tie, item_id FROM events
    WHERE event_type IN ('view', 'cart', 'purchase') AND user_id IS NOT NULL
    UNION ALL
    SELECT user_id, session_id, ts, 'search', -1, NULL FROM searches WHERE user_id IS NOT NULL
),
ordered AS (
    SELECT *, lag(ts) OVER w AS previous_ts, lag(session_id) OVER w AS previous_session
    FROM steps WINDOW w AS (PARTITION BY user_id ORDER BY ts, tie)
),
numbered AS (
    SELECT *, sum(CASE WHEN previous_ts IS NULL OR session_id IS DISTINCT FROM previous_session
                         OR (session_id IS NULL AND ts - previous_ts > INTERVAL 30 MINUTE) THEN 1 ELSE 0 END)
              OVER (PARTITION BY user_id ORDER BY ts, tie ROWS UNBOUNDED PRECEDING) AS session_number
    FROM ordered
)
SELECT user_id, ts AS event_timestamp,
       CAST(count(*) FILTER (WHERE event_type = 'view') OVER s AS DOUBLE) AS session_views,
       CAST(count(*) FILTER (WHERE event_type = 'cart') OVER s AS DOUBLE) AS session_carts,
       (epoch_us(ts) - epoch_us(previous_ts)) / 60e6 AS minutes_since_last_event,
       CAST(count(*) FILTER (WHERE event_type = 'search') OVER s AS DOUBLE) AS session_searches,
       CAST(count(*) FILTER (WHERE event_type = 'purchase') OVER s AS DOUBLE) AS session_purchases,
       (epoch_us(ts) - epoch_us(min(ts) OVER s)) / 60e6 AS session_minutes,
       CAST(list_position(['search', 'view', 'cart', 'purchase'], event_type) AS DOUBLE) AS last_action,
       CAST(last_value(CASE WHEN event_type = 'view' THEN item_id END IGNORE NULLS) OVER s AS DOUBLE) AS last_view_item
FROM numbered
WINDOW s AS (PARTITION BY user_id, session_number ORDER BY ts, tie ROWS UNBOUNDED PRECEDING)
