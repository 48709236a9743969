-- Read models built by the projector from the event log. Each projection owns its tables and
-- one checkpoint row; the checkpoint moves in the same transaction as the rows.
CREATE SCHEMA IF NOT EXISTS projections;

CREATE TABLE projections.checkpoints (
    name text PRIMARY KEY,
    -- Position of the last event applied; (0, 0) before the first.
    commit_position bigint NOT NULL DEFAULT 0,
    prepare_position bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE SCHEMA IF NOT EXISTS read_models;

-- Trains on the schedule; a removed train's row is deleted.
CREATE TABLE read_models.trains (
    id bigint PRIMARY KEY,
    route text NOT NULL,
    departure_time timestamp NOT NULL,
    arrival_time timestamp NOT NULL,
    capacity integer NOT NULL,
    available_seats integer NOT NULL
);

-- Active bookings; a cancelled booking's row is deleted.
CREATE TABLE read_models.bookings (
    id bigint PRIMARY KEY,
    train_id bigint NOT NULL,
    user_credentials text NOT NULL,
    booked_at timestamptz NOT NULL
);
CREATE INDEX bookings_train_id ON read_models.bookings (train_id);

-- Open lobbies; a closed lobby's row is deleted.
CREATE TABLE read_models.lobbies (
    id bigint PRIMARY KEY,
    train_id bigint NOT NULL,
    opened_at timestamptz NOT NULL
);
CREATE INDEX lobbies_train_id ON read_models.lobbies (train_id);
