-- Seats, holds, prices and search.
--
-- A train's coaches and tariff are kept as the events state them (jsonb, read by the API
-- through the domain's own types); a train registered before seats existed has NULL for both,
-- which the API reads as one second-class coach of `capacity` seats, free.
ALTER TABLE read_models.trains
    ADD COLUMN layout jsonb,
    ADD COLUMN tariff jsonb;

-- The seats a booking or a hold takes; a seat without a row is free (its class is the
-- layout's). A held seat keeps its
-- hold's expiry, so a reader can show it free once the hold's time is up, before the expiry
-- is recorded.
CREATE TABLE read_models.seats_taken (
    train_id bigint NOT NULL,
    seat text NOT NULL,
    booking_id bigint,
    hold_id text,
    owner_id bigint,
    expires_at timestamptz,
    PRIMARY KEY (train_id, seat)
);

-- Every hold, live or ended. `status` is active, released, expired or purchased; an active
-- hold past `expires_at` is shown as expired.
CREATE TABLE read_models.holds (
    hold_id text PRIMARY KEY,
    train_id bigint NOT NULL,
    owner_id bigint NOT NULL,
    seats text[] NOT NULL,
    quote jsonb NOT NULL,
    expires_at timestamptz NOT NULL,
    status text NOT NULL,
    held_at timestamptz NOT NULL
);
-- The expiry timer asks for the live holds whose time is up, oldest first.
CREATE INDEX holds_active_expiry ON read_models.holds (expires_at) WHERE status = 'active';
CREATE INDEX holds_owner ON read_models.holds (owner_id, train_id);

-- Search: one row per stop of each train, keyed for "trains calling at this station on this
-- day". `derived` marks stops read from the route, which follow the route when it changes.
CREATE TABLE read_models.train_stops (
    train_id bigint NOT NULL,
    position integer NOT NULL,
    station text NOT NULL,
    station_key text NOT NULL,
    departure_date date NOT NULL,
    derived boolean NOT NULL,
    PRIMARY KEY (train_id, position)
);
CREATE INDEX train_stops_search ON read_models.train_stops (station_key, departure_date, train_id, position);

-- A booking's seat and what it cost; NULL for bookings made before seats and prices existed.
ALTER TABLE read_models.bookings
    ADD COLUMN seat text,
    ADD COLUMN price_amount bigint,
    ADD COLUMN price_currency text;
