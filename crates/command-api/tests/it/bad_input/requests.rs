//! Bad requests as a whole: bodies that are not JSON objects, oversized bodies, path ids that
//! are not integers or name nothing, and bodies without a Content-Type.

use super::{case, refused_without_a_trace};
use crate::support::{TestApp, detail, invalid};
use reqwest::Method;
use serde_json::json;

const JSON_INVALID: &str = "json_invalid";

#[tokio::test]
async fn malformed_json_is_refused_and_changes_nothing() {
    let mut cases = Vec::new();
    for (body, error) in [
        (
            r#"{"route":"#,
            "EOF while parsing a value at line 1 column 9",
        ),
        ("not json", "expected ident at line 1 column 2"),
        ("", "EOF while parsing a value at line 1 column 0"),
        (r#"{"train_id": 1,}"#, "trailing comma at line 1 column 16"),
    ] {
        let refused = invalid(
            &["body"],
            &format!("JSON decode error: {error}"),
            JSON_INVALID,
        );
        cases.push(case(Method::POST, "/trains", body, 422, &refused));
        cases.push(case(Method::POST, "/bookings", body, 422, &refused));
        cases.push(case(Method::PUT, "/trains/1", body, 422, &refused));
        cases.push(case(Method::PUT, "/bookings/1", body, 422, &refused));
    }
    refused_without_a_trace(cases).await;
}

#[tokio::test]
async fn a_body_that_is_not_an_object_is_refused_and_changes_nothing() {
    let msg = "Input should be a valid dictionary or object";
    let refused = invalid(&["body"], msg, "model_attributes_type");
    let mut cases = Vec::new();
    let array = r#"[{"train_id":1,"user_credentials":"Jo"}]"#;
    for body in ["[]", array, "42", r#""Jo""#, "null", "true"] {
        cases.push(case(Method::POST, "/bookings", body, 422, &refused));
        cases.push(case(Method::POST, "/trains", body, 422, &refused));
        cases.push(case(Method::PUT, "/bookings/1", body, 422, &refused));
    }
    refused_without_a_trace(cases).await;
}

#[tokio::test]
async fn non_integer_path_ids_are_refused_naming_the_parameter() {
    let msg = "Input should be a valid integer, unable to parse string as an integer";
    let mut cases = Vec::new();
    for id in ["abc", "1.5", "99999999999999999999", "-", "%20"] {
        for (resource, param) in [("trains", "train_id"), ("bookings", "booking_id")] {
            let refused = invalid(&["path", param], msg, "int_parsing");
            let path = format!("/{resource}/{id}");
            for method in [Method::GET, Method::PUT, Method::DELETE] {
                cases.push(case(method, &path, r#"{"route":"A-B"}"#, 422, &refused));
            }
        }
    }
    refused_without_a_trace(cases).await;
}

#[tokio::test]
async fn unknown_ids_are_not_found_and_change_nothing() {
    let (train, booking) = (detail("Train not found"), detail("Booking not found"));
    let change = r#"{"user_credentials":"Jo"}"#;
    let mut cases = Vec::new();
    for id in ["2", "0", "-1", "9223372036854775807"] {
        let (trains, bookings) = (format!("/trains/{id}"), format!("/bookings/{id}"));
        cases.push(case(Method::GET, &trains, "", 404, &train));
        cases.push(case(Method::PUT, &trains, "{}", 404, &train));
        cases.push(case(Method::DELETE, &trains, "", 404, &train));
        cases.push(case(Method::GET, &bookings, "", 404, &booking));
        cases.push(case(Method::PUT, &bookings, change, 404, &booking));
        cases.push(case(Method::DELETE, &bookings, "", 404, &booking));
    }
    let no_train = detail("Train to book ticket for not found");
    let book = |train: i64| json!({"train_id": train, "user_credentials": "Jo"}).to_string();
    for train in [2, 0, -5] {
        cases.push(case(Method::POST, "/bookings", book(train), 404, &no_train));
    }
    refused_without_a_trace(cases).await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_too_large_and_changes_nothing() {
    let too_large = detail("Request body too large");
    let route = json!({"route": "x".repeat(100 * 1024)}).to_string();
    let user = json!({"train_id": 1, "user_credentials": "x".repeat(100 * 1024)}).to_string();
    // The limit is 64 KiB exactly: one byte under is read (and refused for its content).
    let padded = |len: usize| format!(r#"{{"route":"{}"}}"#, "x".repeat(len - 12));
    let long = invalid(
        &["body", "route"],
        "route must be between 1 and 100 characters",
        "value_error",
    );
    let cases = vec![
        case(Method::POST, "/trains", &route, 413, &too_large),
        case(Method::PUT, "/trains/1", &route, 413, &too_large),
        case(Method::POST, "/bookings", &user, 413, &too_large),
        case(Method::PUT, "/bookings/1", &user, 413, &too_large),
        case(
            Method::PUT,
            "/trains/1",
            padded(64 * 1024 + 1),
            413,
            &too_large,
        ),
        case(Method::PUT, "/trains/1", padded(64 * 1024), 422, &long),
    ];
    refused_without_a_trace(cases).await;
}

#[tokio::test]
async fn a_body_over_the_limit_with_an_idempotency_key_is_too_large() {
    let app = TestApp::spawn().await;
    let huge = json!({"route": "x".repeat(100 * 1024)}).to_string();
    let request = app
        .request(Method::POST, "/trains")
        .header("idempotency-key", "huge")
        .body(huge);
    let reply = app.raw(request).await;
    assert_eq!(
        (reply.status, reply.body),
        (413, detail("Request body too large"))
    );
    assert!(app.log().await.is_empty());
}

#[tokio::test]
async fn a_body_without_a_content_type_is_read_as_json() {
    let app = TestApp::spawn().await;
    let body = json!({"route": "A-B", "departure_time": "2024-09-25T06:30",
                      "arrival_time": "2024-09-26T11:40", "available_seats": 3});
    let reply = app
        .raw(app.request(Method::POST, "/trains").body(body.to_string()))
        .await;
    assert!(reply.headers.get("content-type").is_some());
    assert_eq!((reply.status, reply.body), (200, json!(1)));
    let booking = json!({"train_id": 1, "user_credentials": "Jo"}).to_string();
    let reply = app
        .raw(app.request(Method::POST, "/bookings").body(booking))
        .await;
    assert_eq!((reply.status, reply.body), (200, json!(1)));
    let change = json!({"user_credentials": "Tom"}).to_string();
    let request = app
        .request(Method::PUT, "/bookings/1")
        .header("content-type", "text/plain");
    let reply = app.raw(request.body(change)).await;
    assert_eq!((reply.status, reply.body), (200, json!(1)));
    let reply = app
        .raw(app.request(Method::POST, "/bookings").body("{"))
        .await;
    let error = "JSON decode error: EOF while parsing an object at line 1 column 1";
    assert_eq!(
        (reply.status, reply.body),
        (422, invalid(&["body"], error, JSON_INVALID))
    );
    assert_eq!(app.seats_left(1).await, 2);
    let (_, shown) = app.get("/bookings/1").await;
    assert_eq!(
        shown,
        json!({"train_id": 1, "user_credentials": "Tom", "id": 1, "seat": "1-1", "price": {"amount": 0, "currency": "EUR"}})
    );
}

#[tokio::test]
async fn a_deep_offset_or_an_offset_with_after_id_is_refused_on_every_list() {
    let deep = invalid(
        &["query", "offset"],
        "Input should be between 0 and 10000",
        "value_error",
    );
    let both = invalid(
        &["query", "after_id"],
        "Use either offset or after_id, not both",
        "value_error",
    );
    let mut cases = Vec::new();
    for list in ["/trains", "/bookings"] {
        for query in ["offset=10001", "offset=9223372036854775807"] {
            let path = format!("{list}?{query}");
            cases.push(case(Method::GET, &path, "", 422, &deep));
        }
        for query in ["offset=0&after_id=1", "after_id=1&offset=5"] {
            let path = format!("{list}?{query}");
            cases.push(case(Method::GET, &path, "", 422, &both));
        }
    }
    refused_without_a_trace(cases).await;
}
