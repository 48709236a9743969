-- Feed messages whose event the etl could not decode or load, set aside so that loading goes
-- on (see event_store::quarantine); the same shape as projections.quarantine.
CREATE TABLE warehouse.quarantine (
    runner text NOT NULL,
    commit_position bigint NOT NULL,
    prepare_position bigint NOT NULL,
    stream text NOT NULL,
    revision bigint,
    event_id uuid,
    event_type text NOT NULL,
    error_kind text NOT NULL,
    quarantined_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 1,
    PRIMARY KEY (runner, commit_position, prepare_position)
);

-- Unreadable messages keep what went wrong, never the body, which may hold personal data.
ALTER TABLE warehouse.rejected_messages DROP COLUMN body;
