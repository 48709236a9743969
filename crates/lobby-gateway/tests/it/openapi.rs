//! The gateway's OpenAPI document: its own paths, the lobby service's at the root and under
//! `/ls`, the command API's under `/ts`, with what the gateway adds to each.

use crate::support::Stack;
use serde_json::{Value, json};

fn operations(document: &Value) -> Vec<(String, String, &Value)> {
    let paths = document["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("path item");
            item.iter()
                .map(move |(method, operation)| (method.clone(), path.clone(), operation))
        })
        .collect()
}

#[tokio::test]
async fn the_document_describes_every_path_the_gateway_serves() {
    let stack = Stack::start(1, |_| {}).await;
    let (status, document) = stack.get(stack.gateway().url("/openapi.json")).await;
    assert_eq!(status, 200);
    let operations = operations(&document);
    let documented = |method: &str, path: &str| {
        operations
            .iter()
            .any(|(m, p, _)| m.as_str() == method && p.as_str() == path)
    };
    let mut expected = vec![("get", "/status".to_owned()), ("get", "/ls/status".into())];
    for prefix in ["", "/ls"] {
        for (method, path) in [
            ("get", "/lobbies"),
            ("post", "/lobbies"),
            ("get", "/lobbies/{lobby_id}"),
            ("delete", "/lobbies/{lobby_id}"),
            ("get", "/lobbies/ws/{lobby_id}"),
            ("get", "/ws/me"),
            ("post", "/start-booking"),
        ] {
            expected.push((method, format!("{prefix}{path}")));
        }
    }
    for (method, path) in [
        ("get", "/ts/status"),
        ("get", "/ts/trains"),
        ("post", "/ts/trains"),
        ("put", "/ts/trains/{train_id}"),
        ("delete", "/ts/bookings/{booking_id}"),
    ] {
        expected.push((method, path.to_owned()));
    }
    for (method, path) in &expected {
        assert!(documented(method, path), "{method} {path} is undocumented");
    }
    let ids: Vec<&str> = operations
        .iter()
        .filter_map(|(_, _, operation)| operation["operationId"].as_str())
        .collect();
    let unique: std::collections::HashSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "operation ids repeat: {ids:?}");
}

#[tokio::test]
async fn every_operation_lists_the_gateways_own_refusals() {
    let stack = Stack::start(1, |_| {}).await;
    let (_, document) = stack.get(stack.gateway().url("/openapi.json")).await;
    for (method, path, operation) in operations(&document) {
        let responses = &operation["responses"];
        assert!(responses.get("429").is_some(), "{method} {path} lacks 429");
        if operation.get("requestBody").is_some() {
            assert!(responses.get("413").is_some(), "{method} {path} lacks 413");
        }
        if path.starts_with("/ts/") {
            for status in ["503", "504"] {
                assert!(
                    responses.get(status).is_some(),
                    "{method} {path} lacks {status}"
                );
            }
        }
        let ok = &responses["200"]["content"];
        if !ok.is_null() {
            assert!(
                ok.get("application/json").is_some(),
                "{method} {path} answers 200 as {ok}"
            );
        }
    }
}

#[tokio::test]
async fn the_docs_page_is_served() {
    let stack = Stack::start(1, |_| {}).await;
    let response = stack
        .client
        .get(stack.gateway().url("/docs"))
        .send()
        .await
        .expect("docs");
    assert_eq!(response.status(), 200);
    assert!(response.text().await.expect("html").contains("<html"));
}

#[tokio::test]
async fn the_document_waits_for_a_command_api_then_keeps_its_paths() {
    let mut stack = Stack::start(1, |_| {}).await;
    let address = stack.apis[0].address;
    stack.apis[0].stop().await;
    let (status, body) = stack.get(stack.gateway().url("/openapi.json")).await;
    assert_eq!(status, 503, "{body}");

    stack.apis[0] = stack.start_api(address).await;
    let (status, document) = stack.get(stack.gateway().url("/openapi.json")).await;
    assert_eq!(status, 200, "{document}");
    assert!(document["paths"]["/ts/trains"].is_object(), "{document}");
    // start-booking passes its body on as it is: its schema is the command API's own.
    let body = &document["paths"]["/start-booking"]["post"]["requestBody"];
    assert_eq!(
        body["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/NewBooking"
    );
    assert!(document["components"]["schemas"]["NewBooking"].is_object());

    // Once fetched it is kept, so the document does not depend on the upstream any more.
    stack.apis[0].stop().await;
    let (status, _) = stack.get(stack.gateway().url("/openapi.json")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_guarded_lobby_paths_name_the_bearer_scheme() {
    let stack = Stack::start(1, |_| {}).await;
    let (_, document) = stack.get(stack.gateway().url("/openapi.json")).await;
    let scheme = &document["components"]["securitySchemes"]["bearer"];
    assert_eq!(
        (&scheme["type"], &scheme["scheme"], &scheme["bearerFormat"]),
        (&json!("http"), &json!("bearer"), &json!("JWT")),
        "{scheme}"
    );
    let bearer = json!([{"bearer": []}]);
    for prefix in ["", "/ls"] {
        for (method, path, refusals) in [
            ("post", "/lobbies", &["401", "403"][..]),
            ("delete", "/lobbies/{lobby_id}", &["401", "403"]),
            ("post", "/start-booking", &["401"]),
            ("get", "/lobbies/ws/{lobby_id}", &["401"]),
            ("get", "/ws/me", &["401"]),
        ] {
            let path = format!("{prefix}{path}");
            let operation = &document["paths"][&path][method];
            assert_eq!(operation["security"], bearer, "{method} {path}");
            for status in refusals {
                let response = &operation["responses"][status];
                assert!(response.is_object(), "{method} {path} lacks {status}");
            }
        }
        for (method, path) in [("get", "/lobbies"), ("get", "/lobbies/{lobby_id}")] {
            let path = format!("{prefix}{path}");
            let operation = &document["paths"][&path][method];
            assert!(operation.get("security").is_none(), "{method} {path}");
        }
    }
}
