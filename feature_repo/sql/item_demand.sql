-- item_demand: an item's recent sales as a forecaster reads them, per item and snapshot day D
-- (facts of the days before D only). Units are the purchased quantities (a wholesale shop sells
-- by the dozen), summed over trailing windows of days D - n .. D - 1 and over every day on sale
-- (the item's long-run rate per day, which dormant items keep); the list price and the
-- promotion flag are those of day D - 1, carried forward over days without a price. The
-- category's units are per item on sale in it (the whole shop's where items have no category).
WITH grid AS (
    SELECT i.item_id, i.category, i.base_price, s.day FROM items i JOIN snapshot_days s ON i.launch_ts < s.day
),
daily AS (
    SELECT item_id, CAST(ts AS DATE) + 1 AS day, sum(quantity) AS units
    FROM events WHERE event_type = 'purchase' GROUP BY ALL
),
filled AS (
    SELECT g.item_id, g.category, g.base_price, g.day, coalesce(d.units, 0) AS units,
           p.price AS list_price, CAST(p.on_promo AS INTEGER) AS on_promo
    FROM grid g LEFT JOIN daily d USING (item_id, day)
    LEFT JOIN prices p ON p.item_id = g.item_id AND p.day = g.day - 1
),
windows AS (
    SELECT item_id, category, day,
           CAST(units AS DOUBLE) AS units_1d,
           CAST(sum(units) OVER w7 AS DOUBLE) AS units_7d,
           CAST(sum(units) OVER w14 AS DOUBLE) AS units_14d,
           CAST(sum(units) OVER w28 AS DOUBLE) AS units_28d,
           CAST(sum(units) OVER w56 AS DOUBLE) AS units_56d,
           CAST(count(*) FILTER (WHERE units > 0) OVER w28 AS DOUBLE) AS sale_days_28d,
           CAST(date_diff('day', max(CASE WHEN units > 0 THEN day END) OVER history, day) + 1 AS DOUBLE) AS days_since_last_sale,
           CAST(count(*) FILTER (WHERE units > 0) OVER history AS DOUBLE) AS sale_days_total,
           CAST(sum(units) OVER history / count(*) OVER history AS DOUBLE) AS units_per_day_on_sale,
           CAST(coalesce(sum(on_promo) OVER w7, 0) AS DOUBLE) AS promo_days_7d,
           CAST(coalesce(last_value(on_promo IGNORE NULLS) OVER history, 0) AS DOUBLE) AS on_promo,
           last_value(list_price IGNORE NULLS) OVER history / nullif(base_price, 0) AS price_vs_base,
           last_value(list_price IGNORE NULLS) OVER history / avg(list_price) OVER w28 - 1 AS price_change_vs_28d_avg
    FROM filled
    WINDOW w7 AS (PARTITION BY item_id ORDER BY day RANGE BETWEEN INTERVAL 6 DAYS PRECEDING AND CURRENT ROW),
           w14 AS (PARTITION BY item_id ORDER BY day RANGE BETWEEN INTERVAL 13 DAYS PRECEDING AND CURRENT ROW),
           w28 AS (PARTITION BY item_id ORDER BY day RANGE BETWEEN INTERVAL 27 DAYS PRECEDING AND CURRENT ROW),
           w56 AS (PARTITION BY item_id ORDER BY day RANGE BETWEEN INTERVAL 55 DAYS PRECEDING AND CURRENT ROW),
           history AS (PARTITION BY item_id ORDER BY day ROWS UNBOUNDED PRECEDING)
)
SELECT item_id, CAST(day AS TIMESTAMPTZ) AS event_timestamp,
       units_1d, units_7d, units_14d, units_28d, units_56d, sale_days_28d, days_since_last_sale, sale_days_total,
       units_per_day_on_sale,
       promo_days_7d, on_promo, price_vs_base, price_change_vs_28d_avg,
       avg(units_7d) OVER (PARTITION BY category, day) AS category_units_7d,
       avg(units_28d) OVER (PARTITION BY category, day) AS category_units_28d
FROM windows
