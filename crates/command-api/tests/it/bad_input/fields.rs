//! Bad fields in otherwise well-formed bodies: wrong types, missing fields, values out of
//! range or too long, and a journey that ends before it starts.

use super::{Case, case, refused_without_a_trace};
use crate::support::{TestApp, invalid};
use reqwest::Method;
use serde_json::{Value, json};

/// A train body, complete but for `available_seats`.
const TRAIN: &str =
    r#""route":"A-B","departure_time":"2024-09-25T06:30","arrival_time":"2024-09-26T11:40""#;

fn value_error(field: &str, msg: &str) -> Value {
    invalid(&["body", field], msg, "value_error")
}

#[tokio::test]
async fn wrongly_typed_fields_are_each_named_and_change_nothing() {
    let not_int = |f: &str| invalid(&["body", f], "Input should be a valid integer", "int_type");
    let not_str = |f: &str| {
        invalid(
            &["body", f],
            "Input should be a valid string",
            "string_type",
        )
    };
    let seats = not_int("available_seats");
    let mut cases: Vec<Case> = Vec::new();
    for bad in [r#""5""#, "1.5", "true", "[5]"] {
        let full = format!(r#"{{{TRAIN},"available_seats":{bad}}}"#);
        cases.push(case(Method::POST, "/trains", full, 422, &seats));
        let partial = format!(r#"{{"available_seats":{bad}}}"#);
        cases.push(case(Method::PUT, "/trains/1", partial, 422, &seats));
    }
    let route = json!({"route": 7, "departure_time": "2024-09-25T06:30",
                       "arrival_time": "2024-09-26T11:40", "available_seats": 5});
    let route = route.to_string();
    cases.push(case(Method::POST, "/trains", route, 422, &not_str("route")));
    let departure = r#"{"departure_time":20240925}"#;
    cases.push(case(
        Method::PUT,
        "/trains/1",
        departure,
        422,
        &not_str("departure_time"),
    ));
    let train_id = not_int("train_id");
    for bad in [r#""1""#, "1.0", "null"] {
        let body = format!(r#"{{"train_id":{bad},"user_credentials":"Jo"}}"#);
        let expected = if bad == "null" {
            invalid(&["body", "train_id"], "Field required", "missing")
        } else {
            train_id.clone()
        };
        cases.push(case(Method::POST, "/bookings", body, 422, &expected));
    }
    let user = r#"{"train_id":1,"user_credentials":["Jo"]}"#;
    cases.push(case(
        Method::POST,
        "/bookings",
        user,
        422,
        &not_str("user_credentials"),
    ));
    let change = r#"{"user_credentials":42}"#;
    cases.push(case(
        Method::PUT,
        "/bookings/1",
        change,
        422,
        &not_str("user_credentials"),
    ));
    // Every problem is reported at once, in field order.
    let both = json!({"detail": [
        {"loc": ["body", "route"], "msg": "Input should be a valid string", "type": "string_type"},
        {"loc": ["body", "available_seats"], "msg": "Input should be a valid integer", "type": "int_type"},
    ]});
    let body = r#"{"route":1,"available_seats":"x"}"#;
    cases.push(case(Method::PUT, "/trains/1", body, 422, &both));
    refused_without_a_trace(cases).await;
}

#[tokio::test]
async fn missing_fields_are_each_reported_and_change_nothing() {
    let missing = |fields: &[&str]| {
        let items: Vec<Value> = fields
            .iter()
            .map(|f| json!({"loc": ["body", f], "msg": "Field required", "type": "missing"}))
            .collect();
        json!({ "detail": items })
    };
    let all = missing(&["route", "departure_time", "arrival_time", "available_seats"]);
    let seats = missing(&["available_seats"]);
    let credentials = missing(&["user_credentials"]);
    let cases = vec![
        case(Method::POST, "/trains", "{}", 422, &all),
        case(Method::POST, "/trains", format!("{{{TRAIN}}}"), 422, &seats),
        case(
            Method::POST,
            "/trains",
            format!(r#"{{{TRAIN},"available_seats":null}}"#),
            422,
            &seats,
        ),
        case(
            Method::POST,
            "/bookings",
            r#"{"user":"Jo"}"#,
            422,
            &missing(&["train_id", "user_credentials"]),
        ),
        case(
            Method::POST,
            "/bookings",
            r#"{"user_credentials":"Jo"}"#,
            422,
            &missing(&["train_id"]),
        ),
        case(
            Method::POST,
            "/bookings",
            r#"{"train_id":1}"#,
            422,
            &credentials,
        ),
        case(Method::PUT, "/bookings/1", "{}", 422, &credentials),
        case(
            Method::PUT,
            "/bookings/1",
            r#"{"user_credentials":null}"#,
            422,
            &credentials,
        ),
    ];
    refused_without_a_trace(cases).await;
}

#[tokio::test]
async fn out_of_range_and_overlong_values_are_refused_and_change_nothing() {
    let seats = value_error("available_seats", "seats must be between 0 and 5000");
    let mut cases = Vec::new();
    for n in [-1, 5001, i64::MAX] {
        let full = format!(r#"{{{TRAIN},"available_seats":{n}}}"#);
        cases.push(case(Method::POST, "/trains", full, 422, &seats));
        let partial = format!(r#"{{"available_seats":{n}}}"#);
        cases.push(case(Method::PUT, "/trains/1", partial, 422, &seats));
    }
    // One seat is booked, so 5000 more would take the train past its largest size.
    let capacity = value_error(
        "available_seats",
        "Booked seats exceed the maximum capacity",
    );
    let body = r#"{"available_seats":5000}"#;
    cases.push(case(Method::PUT, "/trains/1", body, 422, &capacity));
    let route = value_error("route", "route must be between 1 and 100 characters");
    for bad in ["x".repeat(101), String::new(), "   ".into()] {
        let full = json!({"route": bad, "departure_time": "2024-09-25T06:30",
                          "arrival_time": "2024-09-26T11:40", "available_seats": 5});
        cases.push(case(Method::POST, "/trains", full.to_string(), 422, &route));
        let partial = json!({"route": bad}).to_string();
        cases.push(case(Method::PUT, "/trains/1", partial, 422, &route));
    }
    let time = value_error("departure_time", "time must look like 2024-09-25T06:30");
    for bad in ["25/09/2024", "2024-09-25", "2024-02-30T10:00", ""] {
        let body = json!({"departure_time": bad}).to_string();
        cases.push(case(Method::PUT, "/trains/1", body, 422, &time));
    }
    // Outside the years every column holds (finding: one such train froze the read side).
    let years = "time must be between 2000-01-01T00:00 and 2099-12-31T23:59";
    for (field, bad) in [
        ("departure_time", "-5000-01-01T00:00"),
        ("departure_time", "1999-12-31T23:59"),
        ("arrival_time", "2100-01-01T00:00"),
    ] {
        let mut full = json!({"route": "A-B", "departure_time": "2024-09-25T06:30",
                              "arrival_time": "2024-09-26T11:40", "available_seats": 5});
        full[field] = json!(bad);
        let refusal = value_error(field, years);
        cases.push(case(
            Method::POST,
            "/trains",
            full.to_string(),
            422,
            &refusal,
        ));
        let partial = json!({ field: bad }).to_string();
        cases.push(case(Method::PUT, "/trains/1", partial, 422, &refusal));
    }
    let user = value_error(
        "user_credentials",
        "user_credentials must be between 1 and 100 characters",
    );
    for bad in ["é".repeat(101), String::new(), " \t ".into()] {
        let body = json!({"train_id": 1, "user_credentials": bad}).to_string();
        cases.push(case(Method::POST, "/bookings", body, 422, &user));
        let change = json!({"user_credentials": bad}).to_string();
        cases.push(case(Method::PUT, "/bookings/1", change, 422, &user));
    }
    refused_without_a_trace(cases).await;
}

/// PostgreSQL stores no NUL in text or JSON: such text must be refused as input, not fail at
/// the event store with a 500 (the fuzz pass found this).
#[tokio::test]
async fn text_with_a_nul_character_is_refused_and_changes_nothing() {
    let nul =
        |field: &str| value_error(field, "Input should not contain the NUL character (U+0000)");
    let train = json!({"route": "A\u{0}B", "departure_time": "2024-09-25T06:30",
                       "arrival_time": "2024-09-26T11:40", "available_seats": 5});
    let route = json!({"route": "\u{0}"}).to_string();
    let booking = json!({"train_id": 1, "user_credentials": "Jo\u{0}"}).to_string();
    let holder = json!({"user_credentials": "\u{0}Jo"}).to_string();
    refused_without_a_trace(vec![
        case(
            Method::POST,
            "/trains",
            train.to_string(),
            422,
            &nul("route"),
        ),
        case(Method::PUT, "/trains/1", route, 422, &nul("route")),
        case(
            Method::POST,
            "/bookings",
            booking,
            422,
            &nul("user_credentials"),
        ),
        case(
            Method::PUT,
            "/bookings/1",
            holder,
            422,
            &nul("user_credentials"),
        ),
    ])
    .await;
}

#[tokio::test]
async fn departure_at_or_after_arrival_is_refused_and_changes_nothing() {
    let refused = value_error("arrival_time", "Departure time must be before arrival time");
    let mut cases = Vec::new();
    for departure in [
        "2024-09-26T11:41",
        "2024-09-26T11:40",
        "2024-09-26T11:40:00",
    ] {
        let body = json!({"route": "A-B", "departure_time": departure,
                          "arrival_time": "2024-09-26T11:40", "available_seats": 5});
        cases.push(case(
            Method::POST,
            "/trains",
            body.to_string(),
            422,
            &refused,
        ));
        let moved = json!({"departure_time": departure}).to_string();
        cases.push(case(Method::PUT, "/trains/1", moved, 422, &refused));
    }
    refused_without_a_trace(cases).await;
}

#[tokio::test]
async fn a_refused_train_does_not_use_up_an_id() {
    let app = TestApp::spawn().await;
    let backwards = json!({"route": "A-B", "departure_time": "2024-09-27T06:30",
                           "arrival_time": "2024-09-26T11:40", "available_seats": 5});
    assert_eq!(app.post("/trains", backwards).await.0, 422);
    assert_eq!(app.post("/trains", json!({})).await.0, 422);
    assert_eq!(app.train(5).await, 1);
}
