//! The etl's one integration-test binary, against real PostgreSQL and RabbitMQ: the analyst
//! views on a hand-computed scenario, duplicates and reordering, a crash before the ack, a
//! broker that drops mid-stream, backfill against live, and prices and holds.

mod support;

mod backfill;
mod broker_drop;
mod crash;
mod duplicates;
mod feed;
mod prices;
mod views;
