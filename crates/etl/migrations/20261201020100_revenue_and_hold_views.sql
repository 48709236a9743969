-- Views over prices and holds; README documents each, `booking report` prints them. Money is
-- never summed across currencies: every view with an amount groups by its currency.

-- Revenue per route and booking day (UTC), per currency.
-- Revenue is the price of the bookings made that day that stand now; a booking cancelled
-- since (for any reason) counts in cancelled_revenue instead, so a day's revenue falls when
-- one of its bookings is cancelled later. Bookings without a price are left out.
CREATE VIEW warehouse.revenue_per_route_day AS
SELECT r.route, d.date AS day, f.price_currency AS currency,
       count(*) FILTER (WHERE f.cancelled_at IS NULL) AS bookings,
       coalesce(sum(f.price_amount) FILTER (WHERE f.cancelled_at IS NULL), 0)::bigint AS revenue,
       coalesce(sum(f.price_amount) FILTER (WHERE f.cancelled_at IS NOT NULL), 0)::bigint
           AS cancelled_revenue
FROM warehouse.fact_booking f
JOIN warehouse.dim_route r USING (route_key)
JOIN warehouse.dim_date d ON d.date_key = f.booked_date_key
WHERE f.booked_at IS NOT NULL AND f.price_amount IS NOT NULL
GROUP BY r.route, d.date, f.price_currency;

-- Average price per seat class and currency, over the same bookings as revenue: priced and
-- not cancelled. Bookings of free trains count at 0. In minor units, to two decimals.
CREATE VIEW warehouse.average_price_per_class AS
SELECT f.seat_class AS class, f.price_currency AS currency, count(*) AS bookings,
       round(avg(f.price_amount), 2) AS average_price
FROM warehouse.fact_booking f
WHERE f.booked_at IS NOT NULL AND f.price_amount IS NOT NULL AND f.seat_class IS NOT NULL
  AND f.cancelled_at IS NULL
GROUP BY f.seat_class, f.price_currency;

-- How holds end: each outcome's share of the holds that have ended (purchased + released +
-- expired). Active holds are not in the denominator; released includes holds let go because
-- their train was removed (fact_hold.end_reason tells them apart). Every outcome has a row,
-- share NULL while no hold has ended.
CREATE VIEW warehouse.hold_outcomes AS
WITH outcomes (outcome_order, outcome) AS (VALUES
    (1, 'purchased'), (2, 'released'), (3, 'expired'))
SELECT o.outcome_order, o.outcome, count(h.hold_id) AS holds,
       round(count(h.hold_id)::numeric / nullif(sum(count(h.hold_id)) OVER (), 0), 4) AS share
FROM outcomes o
LEFT JOIN warehouse.fact_hold h ON h.outcome = o.outcome AND h.held_at IS NOT NULL
GROUP BY o.outcome_order, o.outcome;
