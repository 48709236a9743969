//! The projector's one integration-test binary: read models built from a real log, a standby
//! instance taking over, and lost connections mid-batch.

mod support;

mod crash;
mod feed_body;
mod replay;
mod standby;
