//! The etl's one integration-test binary, against real PostgreSQL and RabbitMQ: the analyst
//! views on a hand-computed scenario, duplicates and reordering, a crash before the ack, a
//! broker that drops mid-stream, and backfill against live.

mod support;

mod backfill;
mod broker_drop;
mod crash;
mod duplicates;
mod feed;
mod views;
