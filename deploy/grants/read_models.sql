-- Least privilege in the read-model database: what each service's PostgreSQL role may do with
-- the read models, the followers' checkpoints and quarantine, the id sequences, the signing
-- keys and what accounts keep beside the log.
--
-- `booking migrate` runs this after the migrations when MIGRATE_GRANTS=true, as the owner of
-- every object here (booking_owner in compose). The owner alone runs DDL: no service role may
-- create, alter or drop anything, so the services start with MIGRATE=skip. The roles exist
-- beforehand (compose: deploy/postgres/roles.sh); a deployment may log in as them or make its
-- own login roles members of them.
--
--   booking_command_api    `booking command-api`
--   booking_projector      `booking projector` (the read models and the warehouse feed)
--   booking_lobby_gateway  `booking lobby-gateway`
--
-- Idempotent and convergent: every right of these roles is taken away first, then what each
-- needs is granted, so a right that a release no longer needs goes on the next migrate. Tables
-- are named one by one: a new table serves nobody until a line here says who needs it.

-- Only these roles connect; PUBLIC's default CONNECT and TEMPORARY go (the analyst and the
-- etl never see this database).
DO $$
BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO booking_command_api, booking_projector, booking_lobby_gateway',
                   current_database());
END
$$;
-- Before PostgreSQL 15 everybody could create tables in `public` (the migrations' history
-- lives there).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

REVOKE ALL ON SCHEMA projections, read_models, command_api, auth, accounts
    FROM booking_command_api, booking_projector, booking_lobby_gateway;
REVOKE ALL ON ALL TABLES IN SCHEMA projections, read_models, command_api, auth, accounts
    FROM booking_command_api, booking_projector, booking_lobby_gateway;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA command_api
    FROM booking_command_api, booking_projector, booking_lobby_gateway;

-- Followers of the log keep their checkpoint and quarantine here: the projector's projections
-- and warehouse feed, the command API's reactors. Commands wait on the checkpoints (read your
-- writes), and readiness counts the quarantine. Emptying a quarantine (`booking quarantine`,
-- `booking rebuild`) is the owner's.
GRANT USAGE ON SCHEMA projections TO booking_command_api, booking_projector, booking_lobby_gateway;
GRANT SELECT, INSERT, UPDATE ON projections.checkpoints, projections.quarantine
    TO booking_command_api, booking_projector;
GRANT SELECT ON projections.checkpoints TO booking_lobby_gateway;

-- The projector alone writes the read models; the services read what they serve.
GRANT USAGE ON SCHEMA read_models TO booking_command_api, booking_projector, booking_lobby_gateway;
GRANT SELECT, INSERT, UPDATE, DELETE
    ON read_models.trains, read_models.bookings, read_models.lobbies, read_models.users,
       read_models.seats_taken, read_models.holds, read_models.train_stops,
       read_models.orders, read_models.payments
    TO booking_projector;
GRANT SELECT
    ON read_models.trains, read_models.bookings, read_models.users, read_models.seats_taken,
       read_models.holds, read_models.train_stops, read_models.orders, read_models.payments
    TO booking_command_api;
GRANT SELECT ON read_models.lobbies TO booking_lobby_gateway;

-- Ids: both command-taking services draw them, and at start-up move the sequences past the
-- highest ids in the log (setval) and mark that done.
GRANT USAGE ON SCHEMA command_api TO booking_command_api, booking_lobby_gateway;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA command_api
    TO booking_command_api, booking_lobby_gateway;
GRANT SELECT, INSERT ON command_api.ids_checked TO booking_command_api, booking_lobby_gateway;

-- Signing keys: both services verify tokens, and whichever starts first makes the first key.
-- Rotation (`booking rotate-keys`, which updates and deletes keys) is the owner's.
GRANT USAGE ON SCHEMA auth TO booking_command_api, booking_lobby_gateway;
GRANT SELECT, INSERT ON auth.signing_keys TO booking_command_api, booking_lobby_gateway;

-- Credentials, refresh tokens and data keys: the command API's alone. Erasure deletes a data
-- key; logout and reuse detection update refresh tokens.
GRANT USAGE ON SCHEMA accounts TO booking_command_api;
GRANT SELECT, INSERT, UPDATE, DELETE
    ON accounts.credentials, accounts.refresh_tokens, accounts.data_keys
    TO booking_command_api;
