-- Id allocation for new trains, bookings and lobbies. Sequences never hand out a number twice,
-- even across rolled-back transactions, so ids are never reused; a refused command leaves a
-- gap. The ids are recorded in the events, so replays keep them. Keep this schema with the
-- event log: restoring one without the other could hand out an id again.
CREATE SCHEMA IF NOT EXISTS command_api;
CREATE SEQUENCE command_api.train_ids AS bigint;
CREATE SEQUENCE command_api.booking_ids AS bigint;
CREATE SEQUENCE command_api.lobby_ids AS bigint;
