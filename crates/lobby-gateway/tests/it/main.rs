//! Integration tests of the lobby gateway, over real sockets against a whole stack per test.

mod auth;
mod connections;
mod gateway;
mod lobbies;
mod matrix;
mod me;
mod openapi;
mod rate_limit;
mod redis_outage;
mod redis_password;
mod slow_consumer;
mod support;
mod websocket;
mod ws_limits;
