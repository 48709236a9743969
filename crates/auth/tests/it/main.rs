//! The auth crate's one integration-test binary: the key ring over a real PostgreSQL (each
//! test on its own throwaway database), token refusals, and the extractors behind a real
//! server.

mod support;

mod caller;
mod key_ring;
mod rotation;
mod sessions;
mod tokens;
mod vault;
