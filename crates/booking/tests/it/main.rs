//! The binary's integration tests: real `booking` processes, killed and restarted, or probing
//! health endpoints, and the fault suite, which takes PostgreSQL, RabbitMQ or a gateway away
//! from a running stack (through proxies the tests own; the shared servers are never touched).

mod stack;

mod broker_outage;
mod crash;
mod erasure;
mod etl_crash;
mod gateway_kill;
mod healthcheck;
mod least_privilege;
mod order_crash;
mod postgres_outage;
mod quarantine;
mod reaction_crash;
mod two_apis;
mod users;
