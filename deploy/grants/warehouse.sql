-- Least privilege in the warehouse database. `booking migrate` runs it after the warehouse's
-- migrations when MIGRATE_GRANTS=true, as the owner; idempotent and convergent like
-- read_models.sql.
--
--   booking_etl      `booking etl`: loads the star schema, keeps its ledger and quarantine
--   booking_analyst  read-only: the documented views and the star schema they read
--                    (README, "Analysts"); also what `booking report` needs

DO $$
BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO booking_etl, booking_analyst', current_database());
END
$$;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

REVOKE ALL ON SCHEMA warehouse FROM booking_etl, booking_analyst;
REVOKE ALL ON ALL TABLES IN SCHEMA warehouse FROM booking_etl, booking_analyst;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA warehouse FROM booking_etl, booking_analyst;
-- Functions are executable by PUBLIC unless taken back.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA warehouse FROM PUBLIC, booking_etl, booking_analyst;

GRANT USAGE ON SCHEMA warehouse TO booking_etl, booking_analyst;

-- The loader: upserts facts and dimensions (a type-2 train version closes the previous one),
-- records each loaded event and what it could not read. It never deletes; the calendar is
-- filled by the migration. Emptying the quarantine (`booking quarantine`) is the owner's.
GRANT SELECT, INSERT, UPDATE
    ON warehouse.loaded_events, warehouse.dim_route, warehouse.dim_train,
       warehouse.train_removals, warehouse.fact_booking, warehouse.fact_train_seats_daily,
       warehouse.fact_hold, warehouse.rejected_messages, warehouse.quarantine
    TO booking_etl;
GRANT SELECT ON warehouse.dim_date TO booking_etl;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA warehouse TO booking_etl;

-- Analysts read; they never see the loader's ledger, quarantine or rejected messages.
GRANT SELECT
    ON warehouse.bookings_per_route_day, warehouse.load_factor_per_train,
       warehouse.cancellation_rate_per_route, warehouse.lead_time_distribution,
       warehouse.train_seats_daily, warehouse.revenue_per_route_day,
       warehouse.average_price_per_class, warehouse.hold_outcomes,
       warehouse.dim_date, warehouse.dim_route, warehouse.dim_train, warehouse.train_removals,
       warehouse.fact_booking, warehouse.fact_train_seats_daily, warehouse.fact_hold
    TO booking_analyst;
GRANT EXECUTE ON FUNCTION warehouse.top_routes(date, date, integer) TO booking_analyst;
