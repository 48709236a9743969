//! The event store's integration tests: the conformance suite on the PostgreSQL adapter.

mod postgres;
