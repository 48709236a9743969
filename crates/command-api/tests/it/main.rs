//! The command API's one integration-test binary. Every test starts the real server on
//! `127.0.0.1:0` over its own database (event store, read models and projector included) and
//! talks to it over the socket.

mod support;

mod bad_input;
mod bookings;
mod holds;
mod idempotency;
mod ids;
mod orders;
mod oversell;
mod ownership;
mod poison;
mod reactions;
mod read_your_writes;
mod service;
mod smoke;
mod trains;
mod users;
