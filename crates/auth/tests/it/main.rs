//! The auth crate's one integration-test binary: the key ring over a real PostgreSQL (each
//! test on its own throwaway database), and token refusals.

mod support;

mod key_ring;
mod rotation;
mod tokens;
