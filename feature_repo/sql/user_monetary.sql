-- user_monetary: spend, order value, price paid against the list price, and coupon use.
-- A coupon counts as received the night after it was sent, and as redeemed the night after
-- the purchase that used it (its first purchase while valid); redemption is never known early.
-- Sums are exact decimals, so a snapshot does not depend on the order rows are added in.
-- A coupon is active at D when it was sent before D, is still valid at D and was not redeemed
-- by a purchase before D.
WITH purchases AS (
    SELECT e.user_id, CAST(e.ts AS DATE) + 1 AS day, e.session_id,
           CAST(e.price AS DECIMAL(18, 4)) * e.quantity AS amount,
           CAST(e.price / nullif(p.price, 0) AS DECIMAL(18, 6)) AS paid_vs_list
    FROM events e LEFT JOIN prices p ON p.item_id = e.item_id AND p.day = CAST(e.ts AS DATE)
    WHERE e.event_type = 'purchase'
),
daily_spend AS (
    SELECT user_id, day, sum(amount) AS spend, count(DISTINCT session_id) AS orders,
           sum(paid_vs_list) AS ratio_sum, count(paid_vs_list) AS ratio_n
    FROM purchases GROUP BY ALL
),
redemptions AS (
    SELECT p.promotion_id, p.user_id, p.discount, CAST(p.ts AS DATE) + 1 AS received_day,
           CAST(p.ts + to_days(p.valid_days) AS DATE) AS expires_day,
           CAST(min(e.ts) AS DATE) + 1 AS redeemed_day
    FROM promotions p LEFT JOIN events e ON e.user_id = p.user_id AND e.event_type = 'purchase'
         AND e.ts >= p.ts AND e.ts < p.ts + to_days(p.valid_days)
    WHERE p.coupon GROUP BY ALL
),
daily_coupons AS (
    SELECT user_id, day, sum(received) AS received, sum(redeemed) AS redeemed FROM (
        SELECT user_id, received_day AS day, 1 AS received, 0 AS redeemed FROM redemptions
        UNION ALL
        SELECT user_id, redeemed_day, 0, 1 FROM redemptions WHERE redeemed_day IS NOT NULL)
    GROUP BY ALL
),
active_coupons AS (
    SELECT r.user_id, s.day, max(r.discount) AS discount
    FROM redemptions r JOIN snapshot_days s ON s.day >= r.received_day AND s.day < r.expires_day
    WHERE r.redeemed_day IS NULL OR r.redeemed_day > s.day
    GROUP BY ALL
),
filled AS (
    SELECT g.user_id, g.day, coalesce(s.spend, 0) AS spend, coalesce(s.orders, 0) AS orders,
           coalesce(s.ratio_sum, 0) AS ratio_sum, coalesce(s.ratio_n, 0) AS ratio_n,
           coalesce(c.received, 0) AS received, coalesce(c.redeemed, 0) AS redeemed,
           a.discount AS active_discount
    FROM user_snapshots g LEFT JOIN daily_spend s USING (user_id, day)
    LEFT JOIN daily_coupons c USING (user_id, day) LEFT JOIN active_coupons a USING (user_id, day)
)
SELECT user_id, CAST(day AS TIMESTAMPTZ) AS event_timestamp,
       CAST(sum(spend) OVER w30 AS DOUBLE) AS spend_30d,
       CAST(sum(spend) OVER w90 AS DOUBLE) AS spend_90d,
       CAST(sum(spend) OVER w90 AS DOUBLE) / nullif(sum(orders) OVER w90, 0) AS avg_order_value_90d,
       CAST(sum(ratio_sum) OVER w90 AS DOUBLE) / nullif(sum(ratio_n) OVER w90, 0) AS avg_price_paid_vs_list_90d,
       CAST(sum(received) OVER w90 AS DOUBLE) AS coupons_received_90d,
       CAST(sum(redeemed) OVER w90 / nullif(sum(received) OVER w90, 0) AS DOUBLE) AS coupon_redemption_rate_90d,
       CAST(active_discount IS NOT NULL AS DOUBLE) AS coupon_active,
       CAST(coalesce(active_discount, 0) AS DOUBLE) AS coupon_active_discount
FROM filled
WINDOW w30 AS (PARTITION BY user_id ORDER BY day RANGE BETWEEN INTERVAL 29 DAYS PRECEDING AND CURRENT ROW),
       w90 AS (PARTITION BY user_id ORDER BY day RANGE BETWEEN INTERVAL 89 DAYS PRECEDING AND CURRENT ROW)
