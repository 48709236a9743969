//! Operational endpoints: health, metrics, and the OpenAPI document with its docs page.

use crate::support::{TestApp, detail};
use serde_json::json;

#[tokio::test]
async fn health_endpoints_answer_ok() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.get("/health/live").await,
        (200, json!({"status": "OK"}))
    );
    assert_eq!(
        app.get("/health/ready").await,
        (200, json!({"status": "OK"}))
    );
}

#[tokio::test]
async fn the_openapi_document_describes_every_public_path() {
    let app = TestApp::spawn().await;
    let (status, document) = app.get("/openapi.json").await;
    assert_eq!(status, 200);
    let paths = document["paths"].as_object().expect("paths");
    for (path, methods) in [
        ("/status", &["get"][..]),
        ("/trains", &["get", "post"][..]),
        ("/trains/{train_id}", &["get", "put", "delete"][..]),
        ("/bookings", &["get", "post"][..]),
        ("/bookings/{booking_id}", &["get", "put", "delete"][..]),
    ] {
        for method in methods {
            assert!(
                paths.get(path).and_then(|p| p.get(*method)).is_some(),
                "{method} {path} is undocumented"
            );
        }
    }
    let ids: Vec<&str> = paths
        .values()
        .flat_map(|p| p.as_object().into_iter().flat_map(|m| m.values()))
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let unique: std::collections::HashSet<&&str> = ids.iter().collect();
    assert_eq!(
        unique.len(),
        ids.len(),
        "operation ids must be unique: {ids:?}"
    );
}

#[tokio::test]
async fn the_docs_page_is_served() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url("/docs")).send().await.expect("docs");
    assert_eq!(response.status(), 200);
    assert!(response.text().await.expect("html").contains("<html"));
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let app = TestApp::spawn().await;
    http_kit::metrics::prometheus();
    app.train(10).await;
    let _ = app.get("/trains/1").await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains(
            r#"http_requests_total{method="GET",path="/trains/{train_id}",status="200"}"#
        ),
        "{text}"
    );
}

/// Past `MAX_IN_FLIGHT` requests, the next is answered 503 at once instead of queueing.
#[tokio::test]
async fn past_the_requests_in_flight_the_next_is_shed_with_503() {
    let app = TestApp::spawn_with(|settings| {
        settings.max_in_flight = 1;
        settings.read_your_writes_timeout_ms = 3_000;
    })
    .await;
    // A query asked to wait for a position the read models never reach holds its place.
    let waiting = app
        .request(reqwest::Method::GET, "/trains")
        .header("X-Min-Position", "999999999.999999999")
        .send();
    let waiting = tokio::spawn(waiting);
    let shed = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            let reply = app.raw(app.request(reqwest::Method::GET, "/status")).await;
            if reply.status == 503 {
                return reply;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a request is shed while the first waits");
    assert_eq!(shed.body, detail("Too busy, please retry"));
    assert_eq!(shed.header("retry-after"), "1");
    let first = waiting.await.expect("the task").expect("an answer");
    assert_eq!(first.status().as_u16(), 200);
    // With the place free again, requests pass.
    assert_eq!(app.get("/status").await.0, 200);
}

#[tokio::test]
async fn metrics_labels_stay_bounded_whatever_method_or_path_a_client_invents() {
    let app = TestApp::spawn().await;
    http_kit::metrics::prometheus();
    for method in ["FOO", "BAR1", "QWERTY"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        for path in ["/trains", "/no-such-route-4711"] {
            let response = app
                .client
                .request(method.clone(), app.url(path))
                .send()
                .await
                .expect("request");
            assert!(response.status().is_client_error(), "{}", response.status());
        }
    }
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for invented in ["FOO", "BAR1", "QWERTY", "no-such-route-4711"] {
        assert!(
            !text.contains(invented),
            "{invented} became a label: {text}"
        );
    }
    assert!(
        text.contains(r#"http_requests_total{method="OTHER",path="/trains","#),
        "{text}"
    );
    assert!(
        text.contains(r#"http_requests_total{method="OTHER",path="unmatched","#),
        "{text}"
    );
}

/// With `METRICS_LISTEN`, `/metrics` leaves the public port for an address of its own.
#[tokio::test]
async fn metrics_can_move_off_the_public_port() {
    let address = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        probe.local_addr().expect("an address")
    };
    let app = TestApp::spawn_with(|settings| settings.metrics_listen = Some(address)).await;
    // The recorder is installed on first use; install it before the requests it should count.
    http_kit::metrics::prometheus();
    assert_eq!(app.get("/status").await.0, 200);
    assert_eq!(app.get("/metrics").await.0, 404);
    let scraped = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            // The metrics server binds as the service starts; poll until it answers.
            if let Ok(response) = reqwest::get(format!("http://{address}/metrics")).await {
                return response;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the metrics address answers");
    assert_eq!(scraped.status().as_u16(), 200);
    let text = scraped.text().await.expect("text");
    assert!(text.contains("http_requests_total"), "{text}");
    let status = reqwest::get(format!("http://{address}/status"))
        .await
        .expect("an answer");
    assert_eq!(status.status().as_u16(), 404, "only /metrics lives there");
}
