-- ad_stats: shown impressions, clicks and conversions of an ad over 30 days, and a CTR smoothed
-- towards the shop-wide CTR of all shown slots before D (50 pseudo-impressions of prior).
WITH grid AS (
    SELECT a.ad_id, s.day FROM ads a JOIN snapshot_days s ON a.start_ts < s.day
),
daily AS (
    SELECT ad_id, CAST(ts AS DATE) + 1 AS day, count(*) AS impressions,
           sum(clicked::INT) AS clicks, sum(converted::INT) AS conversions
    FROM ad_impressions WHERE NOT in_holdout GROUP BY ALL
),
shop_wide AS (
    SELECT s.day, coalesce(sum(d.clicks) / nullif(sum(d.impressions), 0), 0.05) AS prior_ctr
    FROM snapshot_days s LEFT JOIN daily d ON d.day <= s.day GROUP BY s.day
),
filled AS (
    SELECT g.ad_id, g.day, coalesce(d.impressions, 0) AS impressions, coalesce(d.clicks, 0) AS clicks,
           coalesce(d.conversions, 0) AS conversions
    FROM grid g LEFT JOIN daily d USING (ad_id, day)
)
SELECT f.ad_id, CAST(f.day AS TIMESTAMPTZ) AS event_timestamp,
       CAST(sum(impressions) OVER w30 AS DOUBLE) AS impressions_30d,
       CAST(sum(clicks) OVER w30 AS DOUBLE) AS clicks_30d,
       CAST(sum(conversions) OVER w30 AS DOUBLE) AS conversions_30d,
       CAST((sum(clicks) OVER w30 + 50 * w.prior_ctr) / (sum(impressions) OVER w30 + 50) AS DOUBLE)
           AS smoothed_ctr_30d
FROM filled f JOIN shop_wide w USING (day)
WINDOW w30 AS (PARTITION BY f.ad_id ORDER BY f.day RANGE BETWEEN INTERVAL 29 DAYS PRECEDING AND CURRENT ROW)
