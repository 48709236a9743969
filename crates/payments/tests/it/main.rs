//! The payments crate's integration tests: the conformance suite on the simulator, the
//! simulator's own HTTP answers, and the webhook signature.

mod conformance;
mod signature;
mod simulator;
mod support;
