-- Least privilege on the PostgreSQL event store (schema event_store; with EventStoreDB or
-- KurrentDB there is nothing here to grant). `booking migrate` runs it with MIGRATE_GRANTS=true
-- on EVENT_STORE_URL's database (DATABASE_URL's by default), as the owner; idempotent like
-- read_models.sql, whose roles it serves.
--
-- The log is append-only even for its writers: they may insert events through the append
-- function (which runs with their rights), never update or delete one.

DO $$
BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO booking_command_api, booking_projector, booking_lobby_gateway',
                   current_database());
END
$$;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

REVOKE ALL ON SCHEMA event_store
    FROM booking_command_api, booking_projector, booking_lobby_gateway;
REVOKE ALL ON ALL TABLES IN SCHEMA event_store
    FROM booking_command_api, booking_projector, booking_lobby_gateway;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA event_store
    FROM booking_command_api, booking_projector, booking_lobby_gateway;
-- Functions are executable by PUBLIC unless taken back.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA event_store
    FROM PUBLIC, booking_command_api, booking_projector, booking_lobby_gateway;

-- Everyone reads and follows the log.
GRANT USAGE ON SCHEMA event_store TO booking_command_api, booking_projector, booking_lobby_gateway;
GRANT SELECT ON event_store.events, event_store.streams
    TO booking_command_api, booking_projector, booking_lobby_gateway;

-- The command-taking services append: the function inserts the events, moves the stream's
-- revision and draws positions from the sequence.
GRANT EXECUTE ON FUNCTION event_store.append(text, bigint, uuid[], text[], jsonb[], jsonb[])
    TO booking_command_api, booking_lobby_gateway;
GRANT INSERT ON event_store.events TO booking_command_api, booking_lobby_gateway;
GRANT INSERT, UPDATE ON event_store.streams TO booking_command_api, booking_lobby_gateway;
GRANT USAGE ON SEQUENCE event_store.event_seq TO booking_command_api, booking_lobby_gateway;
