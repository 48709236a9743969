//! Integration tests of the lobby gateway, over real sockets against a whole stack per test.

mod gateway;
mod lobbies;
mod openapi;
mod support;
mod websocket;
