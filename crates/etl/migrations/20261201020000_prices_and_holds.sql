-- Seats, prices and holds (issue 14). Expand only: new nullable columns and a new fact.

-- What a booking cost and in which class. NULL for bookings made before seats and prices
-- existed (their events carry neither). A booking on a free train has a price of 0.
ALTER TABLE warehouse.fact_booking
    ADD COLUMN seat_class text, -- first | second
    ADD COLUMN price_amount bigint, -- minor units of price_currency
    ADD COLUMN price_currency text;

-- One row per hold. Like fact_booking, the hold and its end fill separate columns, each only
-- from its own event and guarded by its own position, so they can arrive in either order. No
-- owner: the warehouse keeps no one's account, as it keeps no booking's holder.
CREATE TABLE warehouse.fact_hold (
    hold_id text PRIMARY KEY,
    train_id bigint NOT NULL,
    held_at timestamptz,
    held_date_key integer,
    seat_count integer,
    quote_total bigint, -- minor units of currency, fixed when the hold was made
    currency text,
    expires_at timestamptz,
    held_commit bigint,
    held_prepare bigint,
    ended_at timestamptz,
    ended_date_key integer,
    -- released (by its owner or an operator) | train_removed | expired; purchased comes with
    -- orders, and the outcome below already reads it.
    end_reason text,
    ended_commit bigint,
    ended_prepare bigint,
    outcome text GENERATED ALWAYS AS (
        CASE WHEN ended_at IS NULL THEN 'active'
             WHEN end_reason IN ('released', 'train_removed') THEN 'released'
             ELSE end_reason END) STORED
);
CREATE INDEX fact_hold_train ON warehouse.fact_hold (train_id);
CREATE INDEX fact_hold_held_date ON warehouse.fact_hold (held_date_key);
