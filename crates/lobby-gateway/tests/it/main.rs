//! Integration tests of the lobby gateway, over real sockets against a whole stack per test.

mod gateway;
mod lobbies;
mod support;
mod websocket;
