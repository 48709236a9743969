//! Identity every service shares: Argon2id password hashes and refresh-token digests.
//!
//! It is its own crate because both the gateway and the command API need it, and neither may
//! import the other. It holds no users: accounts live in the event store; this crate only
//! knows how to prove who someone is once an account has said so.

mod password;
mod refresh_token;

pub use password::{DUMMY_HASH, hash_password, verify_or_dummy, verify_password};
pub use refresh_token::{digest, new_refresh_token};
