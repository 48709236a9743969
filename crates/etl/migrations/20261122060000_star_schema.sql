-- The warehouse: a star schema loaded by the etl from the RabbitMQ feed (or by backfill from
-- the log). It lives in its own database. Every write is an idempotent upsert guarded by log
-- positions, so a repeated or late message never changes newer data. No foreign keys: the
-- loader resolves keys itself and constraints would only slow bulk loads.
CREATE SCHEMA IF NOT EXISTS warehouse;

-- Every event loaded, by id: repeats are skipped before they touch the facts. loaded_at is
-- taken just before the batch commits, so loaded_at - recorded_at is the feed's lag.
CREATE TABLE warehouse.loaded_events (
    event_id uuid PRIMARY KEY,
    event_type text NOT NULL,
    commit_position bigint NOT NULL,
    prepare_position bigint NOT NULL,
    recorded_at timestamptz NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Calendar days, filled once for 2000-2099 so every fact's date key has a row.
CREATE TABLE warehouse.dim_date (
    date_key integer PRIMARY KEY, -- yyyymmdd
    date date NOT NULL UNIQUE,
    year integer NOT NULL,
    quarter integer NOT NULL,
    month integer NOT NULL,
    month_name text NOT NULL,
    day integer NOT NULL,
    iso_week integer NOT NULL,
    day_of_week integer NOT NULL, -- ISO: Monday 1 .. Sunday 7
    day_name text NOT NULL,
    is_weekend boolean NOT NULL
);
INSERT INTO warehouse.dim_date
SELECT to_char(d, 'YYYYMMDD')::integer, d, extract(year FROM d), extract(quarter FROM d),
       extract(month FROM d), trim(to_char(d, 'Month')), extract(day FROM d),
       extract(week FROM d), extract(isodow FROM d), trim(to_char(d, 'Day')),
       extract(isodow FROM d) IN (6, 7)
FROM generate_series(date '2000-01-01', date '2099-12-31', interval '1 day') AS g(d);

-- Routes by name.
CREATE TABLE warehouse.dim_route (
    route_key bigserial PRIMARY KEY,
    route text NOT NULL UNIQUE
);

-- Trains with history (type 2): one row per version of a train's details, valid from the
-- event that set them until the next version. Versions are ordered by log position, so one
-- arriving late still lands in its place.
CREATE TABLE warehouse.dim_train (
    train_version_key bigserial PRIMARY KEY,
    train_id bigint NOT NULL,
    route_key bigint NOT NULL,
    departure_time timestamp NOT NULL,
    arrival_time timestamp NOT NULL,
    capacity integer NOT NULL,
    valid_from timestamptz NOT NULL,
    valid_to timestamptz,
    is_current boolean NOT NULL DEFAULT true,
    from_commit bigint NOT NULL,
    from_prepare bigint NOT NULL,
    UNIQUE (train_id, from_commit, from_prepare)
);

-- Trains taken off the schedule (their bookings are cancelled with reason train_removed).
CREATE TABLE warehouse.train_removals (
    train_id bigint PRIMARY KEY,
    removed_at timestamptz NOT NULL,
    removed_date_key integer NOT NULL,
    commit_position bigint NOT NULL,
    prepare_position bigint NOT NULL
);

-- One row per booking. The booking and its cancellation fill separate columns, each only
-- from its own event, so they can arrive in any order. Route, departure and lead time come
-- from the train version in force when the booking was made. No personal data.
CREATE TABLE warehouse.fact_booking (
    booking_id bigint PRIMARY KEY,
    train_id bigint NOT NULL,
    train_version_key bigint,
    route_key bigint,
    booked_at timestamptz,
    booked_date_key integer,
    seat_count integer, -- seats the booking holds
    departure_time timestamp,
    departure_date_key integer,
    -- Departure (read as UTC) minus booking time; negative if booked after departure.
    lead_time_minutes integer,
    booked_commit bigint,
    booked_prepare bigint,
    cancelled_at timestamptz,
    cancelled_date_key integer,
    cancel_reason text, -- requested | train_removed
    cancelled_commit bigint,
    cancelled_prepare bigint,
    status text GENERATED ALWAYS AS (
        CASE WHEN cancelled_at IS NULL THEN 'active'
             WHEN cancel_reason = 'train_removed' THEN 'cancelled_by_removal'
             ELSE 'cancelled' END) STORED
);
CREATE INDEX fact_booking_train ON warehouse.fact_booking (train_id);
CREATE INDEX fact_booking_booked_date ON warehouse.fact_booking (booked_date_key);

-- Seats of each train at the end of each day on which they changed (the last event of the
-- day wins, by position). The view train_seats_daily carries it over the days between.
CREATE TABLE warehouse.fact_train_seats_daily (
    train_id bigint NOT NULL,
    date_key integer NOT NULL,
    capacity integer,
    seats_left integer NOT NULL,
    commit_position bigint NOT NULL,
    prepare_position bigint NOT NULL,
    PRIMARY KEY (train_id, date_key)
);

-- Messages that could not be read; kept for a human instead of blocking the queue.
CREATE TABLE warehouse.rejected_messages (
    id bigserial PRIMARY KEY,
    message_id text,
    body text NOT NULL,
    error text NOT NULL,
    rejected_at timestamptz NOT NULL DEFAULT now()
);
