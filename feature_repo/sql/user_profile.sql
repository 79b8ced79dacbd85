-- user_profile: who the customer is, and for how long they have been one.
SELECT g.user_id, CAST(g.day AS TIMESTAMPTZ) AS event_timestamp,
       (epoch(CAST(g.day AS TIMESTAMPTZ)) - epoch(u.signup_ts)) / 86400.0 AS tenure_days,
       u.country, u.device, u.age_band
FROM user_snapshots g JOIN users u USING (user_id)
