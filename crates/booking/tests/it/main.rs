//! The binary's integration tests: real `booking` processes, killed and restarted.

mod crash;
