#!/usr/bin/env bash
# The PostgreSQL users of the compose stack, made once, when the postgres container first
# initialises its volume (/docker-entrypoint-initdb.d). booking_owner owns both databases and
# alone runs DDL (`booking migrate`); each service logs in as its own user, whose rights
# `booking migrate` grants (deploy/grants/*.sql). Passwords come from the container's
# environment (docker-compose.yml, POSTGRES_*_PASSWORD in .env).
#
# Outside compose, run the same statements as a superuser, with your own passwords.
set -euo pipefail

psql --set ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  --set owner="$BOOKING_OWNER_PASSWORD" \
  --set command_api="$BOOKING_COMMAND_API_PASSWORD" \
  --set projector="$BOOKING_PROJECTOR_PASSWORD" \
  --set lobby_gateway="$BOOKING_LOBBY_GATEWAY_PASSWORD" \
  --set etl="$BOOKING_ETL_PASSWORD" \
  --set analyst="$BOOKING_ANALYST_PASSWORD" <<'SQL'
CREATE ROLE booking_owner LOGIN PASSWORD :'owner';
CREATE ROLE booking_command_api LOGIN PASSWORD :'command_api';
CREATE ROLE booking_projector LOGIN PASSWORD :'projector';
CREATE ROLE booking_lobby_gateway LOGIN PASSWORD :'lobby_gateway';
CREATE ROLE booking_etl LOGIN PASSWORD :'etl';
CREATE ROLE booking_analyst LOGIN PASSWORD :'analyst';
ALTER DATABASE booking OWNER TO booking_owner;
CREATE DATABASE warehouse OWNER booking_owner;
SQL
