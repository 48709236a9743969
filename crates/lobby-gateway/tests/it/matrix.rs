//! Who may do what, through the gateway on one stack with `AUTH=required` on both services:
//! every seed-000 path, the lobby websocket and the admin paths of accounts, each tried by
//! anyone (no token), a traveller, another traveller and an admin. The table is printed whole
//! (`--no-capture`) before any difference fails the test.

use crate::auth::{SIGN_IN_PATIENCE_MS, admin, lobby, send, train, traveller, upgrade};
use crate::support::{AUTH_SECRET, Stack};
use auth::AuthMode;
use reqwest::Method;
use serde_json::Value;

/// What a row needs made afresh for each caller, so that one caller's success never changes
/// what the next one meets: a train, a lobby on one, or a booking of the first traveller.
#[derive(Clone, Copy)]
enum Needs {
    Nothing,
    Train,
    Lobby,
    Booking,
    Hold,
}

/// A method (`WS` for a websocket upgrade), a path and a body, with `{train}`, `{lobby}`,
/// `{booking}` and `{user}` (the first traveller's id) filled in; the statuses expected for
/// anyone, the traveller, another traveller and an admin.
struct Row {
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    needs: Needs,
    expect: [u16; 4],
}

const ANYONE: [u16; 4] = [200, 200, 200, 200];
const ADMINS: [u16; 4] = [401, 403, 403, 200];
const SIGNED: [u16; 4] = [401, 200, 200, 200];
const OWNERS: [u16; 4] = [401, 200, 404, 200];
const HOLDERS: [u16; 4] = [401, 201, 201, 201];

const fn row(
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    needs: Needs,
    expect: [u16; 4],
) -> Row {
    Row {
        method,
        path,
        body,
        needs,
        expect,
    }
}

const TRAIN: &str = r#"{"route":"Chisinau-Bucuresti","departure_time":"2099-09-25T06:30","arrival_time":"2099-09-26T11:40","available_seats":10}"#;

const ROWS: &[Row] = &[
    row("GET", "/status", None, Needs::Nothing, ANYONE),
    row("GET", "/openapi.json", None, Needs::Nothing, ANYONE),
    row("GET", "/docs", None, Needs::Nothing, ANYONE),
    row("GET", "/ts/status", None, Needs::Nothing, ANYONE),
    row("GET", "/ts/trains", None, Needs::Nothing, ANYONE),
    row("GET", "/ts/trains/{train}", None, Needs::Train, ANYONE),
    row("POST", "/ts/trains", Some(TRAIN), Needs::Nothing, ADMINS),
    row(
        "PUT",
        "/ts/trains/{train}",
        Some(r#"{"available_seats":7}"#),
        Needs::Train,
        ADMINS,
    ),
    row("DELETE", "/ts/trains/{train}", None, Needs::Train, ADMINS),
    row(
        "GET",
        "/ts/trains/search?from=Chisinau&to=Bucuresti&date=2099-09-25",
        None,
        Needs::Train,
        ANYONE,
    ),
    row(
        "GET",
        "/ts/trains/{train}/seats",
        None,
        Needs::Train,
        ANYONE,
    ),
    row(
        "POST",
        "/ts/trains/{train}/holds",
        Some(r#"{"count":1,"class":"second"}"#),
        Needs::Train,
        HOLDERS,
    ),
    row("GET", "/ts/holds/{hold}", None, Needs::Hold, OWNERS),
    row("DELETE", "/ts/holds/{hold}", None, Needs::Hold, OWNERS),
    row("GET", "/lobbies", None, Needs::Nothing, ANYONE),
    row("GET", "/lobbies/{lobby}", None, Needs::Lobby, ANYONE),
    row(
        "POST",
        "/lobbies",
        Some(r#"{"train_id":{train}}"#),
        Needs::Train,
        ADMINS,
    ),
    row("DELETE", "/lobbies/{lobby}", None, Needs::Lobby, ADMINS),
    row(
        "WS",
        "/lobbies/ws/{lobby}",
        None,
        Needs::Lobby,
        [401, 101, 101, 101],
    ),
    row(
        "POST",
        "/ts/bookings",
        Some(r#"{"train_id":{train}}"#),
        Needs::Train,
        SIGNED,
    ),
    row(
        "POST",
        "/start-booking",
        Some(r#"{"train_id":{train},"user_credentials":"Tom Ford"}"#),
        Needs::Train,
        SIGNED,
    ),
    row("GET", "/ts/bookings", None, Needs::Nothing, SIGNED),
    row(
        "GET",
        "/ts/bookings/{booking}",
        None,
        Needs::Booking,
        OWNERS,
    ),
    row(
        "PUT",
        "/ts/bookings/{booking}",
        Some(r#"{"user_credentials":"Jo Malone"}"#),
        Needs::Booking,
        OWNERS,
    ),
    row(
        "DELETE",
        "/ts/bookings/{booking}",
        None,
        Needs::Booking,
        OWNERS,
    ),
    row("GET", "/api/users/profile", None, Needs::Nothing, SIGNED),
    row("GET", "/api/users/allusers", None, Needs::Nothing, ADMINS),
    row(
        "PUT",
        "/api/users/{user}/role",
        Some(r#"{"role":"traveller"}"#),
        Needs::Nothing,
        ADMINS,
    ),
];

/// The callers, in the table's order.
struct Callers {
    traveller: String,
    traveller_id: i64,
    other: String,
    admin: String,
}

impl Callers {
    fn tokens(&self) -> [Option<&str>; 4] {
        [
            None,
            Some(&self.traveller),
            Some(&self.other),
            Some(&self.admin),
        ]
    }
}

/// Makes what `row` needs and fills its placeholders: (path, body).
async fn prepare(stack: &Stack, callers: &Callers, row: &Row) -> (String, Option<String>) {
    let (mut train_id, mut lobby_id, mut booking_id) = (0, 0, 0);
    let mut hold_id = String::new();
    match row.needs {
        Needs::Nothing => {}
        Needs::Train => train_id = train(stack, &callers.admin).await,
        Needs::Lobby => {
            train_id = train(stack, &callers.admin).await;
            lobby_id = lobby(stack, "", &callers.admin, train_id).await;
        }
        Needs::Booking => {
            train_id = train(stack, &callers.admin).await;
            let url = stack.gateway().url("/ts/bookings");
            let body = serde_json::json!({"train_id": train_id});
            let request = stack.client.post(url).json(&body);
            let reply = send(stack, request, Some(&callers.traveller)).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            booking_id = reply.body.as_i64().expect("a booking id");
        }
        Needs::Hold => {
            train_id = train(stack, &callers.admin).await;
            let url = stack.gateway().url(&format!("/ts/trains/{train_id}/holds"));
            let body = serde_json::json!({"seats": ["1-1"]});
            let request = stack.client.post(url).json(&body);
            let reply = send(stack, request, Some(&callers.traveller)).await;
            assert_eq!(reply.status, 201, "{}", reply.body);
            hold_id = reply.body["hold_id"]
                .as_str()
                .expect("a hold id")
                .to_owned();
        }
    }
    let fill = |text: &str| {
        text.replace("{train}", &train_id.to_string())
            .replace("{lobby}", &lobby_id.to_string())
            .replace("{booking}", &booking_id.to_string())
            .replace("{hold}", &hold_id)
            .replace("{user}", &callers.traveller_id.to_string())
    };
    (fill(row.path), row.body.map(fill))
}

/// The status `token`'s holder gets for `row`.
async fn status(stack: &Stack, callers: &Callers, row: &Row, token: Option<&str>) -> u16 {
    let (path, body) = prepare(stack, callers, row).await;
    if row.method == "WS" {
        return match upgrade(stack.gateway(), &path, token).await {
            Ok(_) => 101,
            Err((status, _)) => status,
        };
    }
    let method = Method::from_bytes(row.method.as_bytes()).expect("a method");
    let mut request = stack.client.request(method, stack.gateway().url(&path));
    if let Some(body) = body {
        let body: Value = serde_json::from_str(&body).expect("a JSON body");
        request = request.json(&body);
    }
    send(stack, request, token).await.status
}

#[tokio::test]
async fn every_path_answers_each_kind_of_caller_as_the_table_says() {
    let mut stack = Stack::start_with_api(
        1,
        |api| api.auth = AuthMode::Required,
        |gateway| {
            gateway.auth = AuthMode::Required;
            gateway.auth_secret = AUTH_SECRET.to_owned();
            gateway.upstream_timeout_ms = SIGN_IN_PATIENCE_MS;
        },
    )
    .await;
    let admin = admin(&mut stack).await;
    let traveller_token = traveller(&stack, "tess").await;
    let profile = send(
        &stack,
        stack.client.get(stack.gateway().url("/api/users/profile")),
        Some(&traveller_token),
    )
    .await;
    let callers = Callers {
        traveller_id: profile.body["id"].as_i64().expect("an id"),
        traveller: traveller_token,
        other: traveller(&stack, "otto").await,
        admin,
    };

    let mut table = vec![format!(
        "{:<7} {:<26} {:>7} {:>9} {:>6} {:>6}",
        "method", "path", "anyone", "traveller", "other", "admin"
    )];
    let mut differences = Vec::new();
    for row in ROWS {
        let mut got = [0u16; 4];
        for (slot, token) in got.iter_mut().zip(callers.tokens()) {
            *slot = status(&stack, &callers, row, token).await;
        }
        table.push(format!(
            "{:<7} {:<26} {:>7} {:>9} {:>6} {:>6}",
            row.method, row.path, got[0], got[1], got[2], got[3]
        ));
        if got != row.expect {
            differences.push(format!(
                "{} {}: expected {:?}, got {got:?}",
                row.method, row.path, row.expect
            ));
        }
    }
    println!("{}", table.join("\n"));
    assert!(differences.is_empty(), "{differences:#?}");

    // A traveller's list holds their own bookings only; an admin's holds everyone's.
    let list = |token: &str| {
        let request = stack.client.get(stack.gateway().url("/ts/bookings"));
        send(&stack, request.bearer_auth(token), None)
    };
    let mine = list(&callers.traveller).await.body;
    let all = list(&callers.admin).await.body;
    let ids = |list: &Value| -> Vec<i64> {
        list.as_array()
            .expect("a list")
            .iter()
            .map(|b| b["id"].as_i64().expect("an id"))
            .collect()
    };
    let theirs = ids(&list(&callers.other).await.body);
    assert!(!ids(&mine).is_empty() && !theirs.is_empty());
    assert!(ids(&mine).iter().all(|id| !theirs.contains(id)));
    assert!(ids(&all).len() >= ids(&mine).len() + theirs.len());
}
