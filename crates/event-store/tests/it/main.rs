//! The event store's integration tests: the conformance suite on each adapter.

mod esdb;
mod postgres;
