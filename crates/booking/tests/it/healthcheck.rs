//! `booking healthcheck <URL>`, the probe of every role's container healthcheck: its exit
//! status is what Docker reads, so the tests run the real binary against a real server.

use axum::{Router, http::StatusCode, routing::get};
use std::net::SocketAddr;
use std::process::Output;

/// A server with one healthy and one unhealthy endpoint.
async fn health_server() -> SocketAddr {
    let router = Router::new()
        .route("/health/live", get(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/health/ready",
            get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let address = listener.local_addr().expect("the bound address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

async fn healthcheck(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_booking"))
        .arg("healthcheck")
        .args(args)
        .env_clear()
        .output()
        .await
        .expect("run booking healthcheck")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn a_success_status_is_healthy() {
    let address = health_server().await;
    let output = healthcheck(&[&format!("http://{address}/health/live")]).await;
    assert!(output.status.success(), "stderr: {}", stderr(&output));
}

#[tokio::test]
async fn an_unavailable_status_is_unhealthy_and_named() {
    let address = health_server().await;
    let output = healthcheck(&[&format!("http://{address}/health/ready")]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("503"),
        "stderr: {}",
        stderr(&output)
    );
}

#[tokio::test]
async fn nothing_listening_is_unhealthy() {
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        listener.local_addr().expect("the bound address")
    };
    let output = healthcheck(&[&format!("http://{address}/health/ready")]).await;
    assert_eq!(output.status.code(), Some(1));
}

#[tokio::test]
async fn a_server_that_never_answers_is_unhealthy_rather_than_a_hung_probe() {
    // Connections queue in the backlog but are never accepted, so no answer ever comes.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let address = silent.local_addr().expect("the bound address");
    let output = healthcheck(&[
        "--timeout-ms",
        "200",
        &format!("http://{address}/health/ready"),
    ])
    .await;
    assert_eq!(output.status.code(), Some(1));
    drop(silent);
}
