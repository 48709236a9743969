//! The binary's integration tests: real `booking` processes, killed and restarted, or probing
//! health endpoints.

mod crash;
mod healthcheck;
