-- What analysts query. README documents each view with an example; `booking report` prints
-- them. Views only read the star schema, so they can be replaced freely in later migrations.

-- Bookings made and cancellations, per route and calendar day (UTC). A booking counts on the
-- day it was made, a cancellation on the day it happened; the route is the train's route
-- when the booking was made.
CREATE VIEW warehouse.bookings_per_route_day AS
WITH booked AS (
    SELECT f.route_key, f.booked_date_key AS date_key, count(*) AS bookings
    FROM warehouse.fact_booking f
    WHERE f.booked_at IS NOT NULL
    GROUP BY 1, 2
), cancelled AS (
    SELECT f.route_key, f.cancelled_date_key AS date_key, count(*) AS cancellations
    FROM warehouse.fact_booking f
    WHERE f.cancelled_at IS NOT NULL AND f.booked_at IS NOT NULL
    GROUP BY 1, 2
)
SELECT r.route, d.date AS day,
       coalesce(b.bookings, 0) AS bookings,
       coalesce(c.cancellations, 0) AS cancellations
FROM booked b
FULL JOIN cancelled c USING (route_key, date_key)
JOIN warehouse.dim_route r USING (route_key)
JOIN warehouse.dim_date d USING (date_key);

-- Seats of every train as they stand now: booked = capacity - seats left, load factor =
-- booked / capacity (NULL for a train without seats).
CREATE VIEW warehouse.load_factor_per_train AS
SELECT t.train_id, r.route, t.departure_time, s.capacity,
       s.capacity - s.seats_left AS seats_booked, s.seats_left,
       round((s.capacity - s.seats_left)::numeric / nullif(s.capacity, 0), 4) AS load_factor,
       x.train_id IS NOT NULL AS removed
FROM warehouse.dim_train t
JOIN warehouse.dim_route r USING (route_key)
JOIN LATERAL (
    SELECT capacity, seats_left FROM warehouse.fact_train_seats_daily s
    WHERE s.train_id = t.train_id
    ORDER BY s.commit_position DESC, s.prepare_position DESC
    LIMIT 1
) s ON true
LEFT JOIN warehouse.train_removals x ON x.train_id = t.train_id
WHERE t.is_current;

-- Of the bookings made on a route, how many were cancelled, by whom.
CREATE VIEW warehouse.cancellation_rate_per_route AS
SELECT r.route, count(*) AS bookings,
       count(*) FILTER (WHERE f.cancel_reason = 'requested') AS cancelled_by_traveller,
       count(*) FILTER (WHERE f.cancel_reason = 'train_removed') AS cancelled_by_removal,
       round(count(f.cancelled_at)::numeric / count(*), 4) AS cancellation_rate
FROM warehouse.fact_booking f
JOIN warehouse.dim_route r USING (route_key)
WHERE f.booked_at IS NOT NULL
GROUP BY r.route;

-- How far ahead of departure people book. Buckets include their lower bound.
CREATE VIEW warehouse.lead_time_distribution AS
WITH buckets (bucket_order, bucket, lo, hi) AS (VALUES
    (1, 'after departure', NULL::integer, 0),
    (2, 'under 1 day', 0, 1440),
    (3, '1 to 7 days', 1440, 10080),
    (4, '7 to 30 days', 10080, 43200),
    (5, '30 to 90 days', 43200, 129600),
    (6, '90 days or more', 129600, NULL::integer))
SELECT b.bucket_order, b.bucket, count(f.booking_id) AS bookings,
       round(count(f.booking_id)::numeric / nullif(sum(count(f.booking_id)) OVER (), 0), 4) AS share
FROM buckets b
LEFT JOIN warehouse.fact_booking f
  ON f.lead_time_minutes IS NOT NULL
 AND (b.lo IS NULL OR f.lead_time_minutes >= b.lo)
 AND (b.hi IS NULL OR f.lead_time_minutes < b.hi)
GROUP BY b.bucket_order, b.bucket;

-- The daily snapshot over every day from a train's first seat change to its last, carrying
-- the end-of-day state over days without changes.
CREATE VIEW warehouse.train_seats_daily AS
SELECT s.train_id, d.date AS day, s.capacity, s.seats_left,
       s.capacity - s.seats_left AS seats_booked
FROM (
    SELECT train_id, date_key, capacity, seats_left,
           lead(date_key) OVER (PARTITION BY train_id ORDER BY date_key) AS next_key
    FROM warehouse.fact_train_seats_daily
) s
JOIN warehouse.dim_date d
  ON d.date_key >= s.date_key
 AND (d.date_key < s.next_key OR (s.next_key IS NULL AND d.date_key = s.date_key));

-- The n routes with most bookings made between two days (inclusive), ties by name.
CREATE FUNCTION warehouse.top_routes(from_day date, to_day date, n integer DEFAULT 10)
RETURNS TABLE (rank bigint, route text, bookings bigint, cancellations bigint, net_bookings bigint)
LANGUAGE sql STABLE AS $$
    SELECT rank() OVER (ORDER BY sum(v.bookings) DESC),
           v.route, sum(v.bookings)::bigint, sum(v.cancellations)::bigint,
           (sum(v.bookings) - sum(v.cancellations))::bigint
    FROM warehouse.bookings_per_route_day v
    WHERE v.day BETWEEN from_day AND to_day
    GROUP BY v.route
    ORDER BY sum(v.bookings) DESC, v.route
    LIMIT n
$$;
