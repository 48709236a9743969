//! Integration tests of the lobby gateway, over real sockets against a whole stack per test.

mod gateway;
mod lobbies;
mod openapi;
mod redis_outage;
mod support;
mod websocket;
