//! Connections under hostile clients: one that sends its headers a byte at a time (slowloris)
//! is dropped after the header deadline, and past the connection cap new connections wait
//! until one closes.

use crate::support::{PATIENCE, Stack};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes `stream`; the bytes it sent.
async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection in time")
        .expect("a readable socket");
    answer
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_dropped() {
    let stack = Stack::start(1, |settings| settings.header_read_timeout_ms = 300).await;
    let mut slow = TcpStream::connect(stack.gateway().address)
        .await
        .expect("connect");
    let started = Instant::now();
    slow.write_all(b"GET /status HTTP/1.1\r\nHost: gateway\r\nX-Slow: 1")
        .await
        .expect("a first part of the headers");
    // A byte now and then, never the end of the headers.
    let dripping = async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if slow.write_all(b"1").await.is_err() {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(PATIENCE, dripping).await;
    let answer = until_closed(&mut slow).await;
    println!(
        "slowloris client dropped after {} ms",
        started.elapsed().as_millis()
    );
    // Either nothing, or hyper's 408: never the page it asked for.
    assert!(
        !String::from_utf8_lossy(&answer).contains("Gateway is running"),
        "{answer:?}"
    );
    // Others are served meanwhile and after.
    assert_eq!(stack.get(stack.gateway().url("/status")).await.0, 200);
}

#[tokio::test]
async fn past_the_connection_cap_a_new_connection_waits_for_one_to_close() {
    let stack = Stack::start(1, |settings| settings.max_connections = 2).await;
    let address = stack.gateway().address;
    // Two connections that say nothing hold both places.
    let first = TcpStream::connect(address).await.expect("connect");
    let second = TcpStream::connect(address).await.expect("connect");
    let closed = Arc::new(AtomicBool::new(false));
    let third = tokio::spawn({
        let closed = Arc::clone(&closed);
        async move {
            let mut third = TcpStream::connect(address).await.expect("connect");
            third
                .write_all(b"GET /status HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
                .await
                .expect("a request");
            let answer = until_closed(&mut third).await;
            (closed.load(Ordering::SeqCst), answer)
        }
    });
    // Time for the third request to be (wrongly) answered, were there no cap.
    tokio::time::sleep(Duration::from_millis(500)).await;
    closed.store(true, Ordering::SeqCst);
    drop(first);
    let (after_a_close, answer) = third.await.expect("the third client");
    assert!(after_a_close, "answered while both places were taken");
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "{answer:?}"
    );
    drop(second);
}
