-- The PostgreSQL event log.
--
-- Ordering technique: every event records the id of the transaction that wrote it (xid8,
-- stored as bigint), and the global position is (xid, seq). Readers only return events whose
-- transaction id is below the oldest transaction still running (pg_snapshot_xmin of their
-- snapshot). Every transaction below that horizon has finished, so no event can ever appear
-- later at a position a reader has already passed: no skipped events, even though a plain
-- sequence hands out numbers before the transactions that drew them commit.
--
-- Why not a serialising lock: it makes every append wait for the previous commit's WAL flush,
-- capping throughput at one commit per flush. With the horizon, writers commit in parallel
-- (group commit) and only readers wait. Failure mode: a long-running write transaction
-- anywhere in the cluster holds the horizon back, delaying (never losing) delivery until it
-- ends; keep the event store in a cluster without long write transactions, and set
-- idle_in_transaction_session_timeout.
CREATE SCHEMA IF NOT EXISTS event_store;

CREATE SEQUENCE event_store.event_seq AS bigint;

CREATE TABLE event_store.streams (
    stream_id text PRIMARY KEY,
    -- Revision of the stream's last event (0-based).
    revision bigint NOT NULL,
    -- Transaction of the last append, so a later append can check it runs in a later
    -- transaction and the global order agrees with the stream order.
    last_xid bigint NOT NULL
);

CREATE TABLE event_store.events (
    xid bigint NOT NULL,
    seq bigint NOT NULL,
    event_id uuid NOT NULL,
    stream_id text NOT NULL,
    revision bigint NOT NULL,
    event_type text NOT NULL,
    data jsonb NOT NULL,
    metadata jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_position PRIMARY KEY (xid, seq),
    CONSTRAINT events_event_id UNIQUE (event_id),
    CONSTRAINT events_stream_revision UNIQUE (stream_id, revision)
);

-- Appends events to one stream if the expected revision holds. One round trip; returns a
-- status instead of raising so the caller never parses error text:
--   ok        written; revision and position of the last event
--   conflict  the expectation failed; revision is the stream's actual one (-1: no stream)
--   duplicate every event id is already stored in this stream: where the last one landed
--   duplicate_elsewhere  some event id is already stored somewhere else
--   retry     a concurrent writer got in first in a way that needs a fresh transaction
-- p_expected: -1 any, -2 no stream, -3 stream exists, n >= 0 exact revision.
CREATE FUNCTION event_store.append(
    p_stream text,
    p_expected bigint,
    p_ids uuid[],
    p_types text[],
    p_data jsonb[],
    p_metadata jsonb[]
) RETURNS TABLE (status text, revision bigint, commit_position bigint, prepare_position bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_xid bigint;
    v_count bigint := cardinality(p_ids);
    v_current bigint;
    v_last_xid bigint;
    v_seq bigint;
    v_dups bigint;
    v_same bigint;
    v_dup_revision bigint;
BEGIN
    -- A retried append (same event ids, same stream) reports where the original landed.
    SELECT count(*), count(*) FILTER (WHERE e.stream_id = p_stream),
           max(e.revision) FILTER (WHERE e.stream_id = p_stream)
    INTO v_dups, v_same, v_dup_revision
    FROM event_store.events e WHERE e.event_id = ANY (p_ids);
    IF v_dups > 0 THEN
        IF v_same = v_count THEN
            RETURN QUERY SELECT 'duplicate'::text, e.revision, e.xid, e.seq
            FROM event_store.events e WHERE e.stream_id = p_stream AND e.revision = v_dup_revision;
        ELSE
            RETURN QUERY SELECT 'duplicate_elsewhere'::text, -1::bigint, 0::bigint, 0::bigint;
        END IF;
        RETURN;
    END IF;

    -- Serialise appends to this stream. An advisory lock, unlike a row lock, does not draw a
    -- transaction id, so ours is drawn only once the previous append to this stream has
    -- committed, and is therefore larger than its: ordering by transaction id keeps every
    -- stream's events in revision order.
    PERFORM pg_advisory_xact_lock(hashtextextended(p_stream, 0));
    v_xid := pg_current_xact_id()::text::bigint;

    SELECT s.revision, s.last_xid INTO v_current, v_last_xid
    FROM event_store.streams s WHERE s.stream_id = p_stream;
    IF NOT FOUND THEN
        v_current := -1;
    END IF;

    IF (p_expected = -2 AND v_current <> -1)
        OR (p_expected = -3 AND v_current = -1)
        OR (p_expected >= 0 AND p_expected <> v_current) THEN
        RETURN QUERY SELECT 'conflict'::text, v_current, 0::bigint, 0::bigint;
        RETURN;
    END IF;

    -- Cannot happen while the lock above is taken; kept as a guard, because a violation would
    -- put this stream's events out of order in the global log. A new transaction draws a
    -- larger id.
    IF v_last_xid IS NOT NULL AND v_last_xid > v_xid THEN
        RETURN QUERY SELECT 'retry'::text, v_current, 0::bigint, 0::bigint;
        RETURN;
    END IF;

    IF v_current = -1 THEN
        INSERT INTO event_store.streams AS s (stream_id, revision, last_xid)
        VALUES (p_stream, v_count - 1, v_xid)
        ON CONFLICT (stream_id) DO NOTHING;
        IF NOT FOUND THEN
            -- Created concurrently: the expectation must be checked again.
            RETURN QUERY SELECT 'retry'::text, v_current, 0::bigint, 0::bigint;
            RETURN;
        END IF;
    ELSE
        UPDATE event_store.streams s SET revision = v_current + v_count, last_xid = v_xid
        WHERE s.stream_id = p_stream;
    END IF;

    INSERT INTO event_store.events (xid, seq, event_id, stream_id, revision, event_type, data, metadata)
    SELECT v_xid, nextval('event_store.event_seq'), u.id, p_stream, v_current + u.ord, u.t, u.d, u.m
    FROM unnest(p_ids, p_types, p_data, p_metadata) WITH ORDINALITY AS u(id, t, d, m, ord);

    v_seq := currval('event_store.event_seq');
    RETURN QUERY SELECT 'ok'::text, v_current + v_count, v_xid, v_seq;
END;
$$;
