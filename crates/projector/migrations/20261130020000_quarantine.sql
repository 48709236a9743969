-- Events a follower of the log (projection, reactor, warehouse feed) could not decode or
-- apply, set aside so that it goes on (see event_store::quarantine). Later events of a
-- blocked stream queue here behind the first (error_kind 'behind'). Never data or error text:
-- only where the event is and the kind of failure.
CREATE TABLE projections.quarantine (
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
