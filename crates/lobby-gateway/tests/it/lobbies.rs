//! The lobby service's REST contract, under `/ls` and directly.

use crate::support::{Stack, detail};
use serde_json::json;

#[tokio::test]
async fn each_service_names_itself_in_its_status() {
    let stack = Stack::start(1, |_| {}).await;
    let gateway = stack.gateway();
    let (status, body) = stack.get(gateway.url("/status")).await;
    assert_eq!(
        (status, body),
        (200, json!({"status":"OK","message":"Gateway is running"}))
    );
    let (status, body) = stack.get(gateway.url("/ls/status")).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"status":"OK","message":"Lobby service is running"})
        )
    );
    let (status, body) = stack.get(gateway.url("/ts/status")).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"status":"OK","message":"Train booking service is running"})
        )
    );
}

#[tokio::test]
async fn a_lobby_is_created_listed_shown_and_deleted_under_ls_and_directly() {
    let stack = Stack::start(1, |_| {}).await;
    let gateway = stack.gateway();
    let train = stack.train(10).await;
    let (status, id) = stack
        .post(gateway.url("/ls/lobbies"), json!({ "train_id": train }))
        .await;
    assert_eq!(status, 200, "{id}");
    let lobby = json!({ "train_id": train, "id": id });
    for prefix in ["/ls", ""] {
        let (status, body) = stack
            .get(gateway.url(&format!("{prefix}/lobbies/{id}")))
            .await;
        assert_eq!((status, body), (200, lobby.clone()));
        let (status, body) = stack.get(gateway.url(&format!("{prefix}/lobbies"))).await;
        assert_eq!((status, body), (200, json!([lobby.clone()])));
    }
    let (status, body) = stack.delete(gateway.url(&format!("/lobbies/{id}"))).await;
    assert_eq!((status, body), (200, id.clone()));
    let (status, body) = stack.get(gateway.url(&format!("/ls/lobbies/{id}"))).await;
    assert_eq!((status, body), (404, detail("Lobby not found")));
    let (status, body) = stack
        .delete(gateway.url(&format!("/ls/lobbies/{id}")))
        .await;
    assert_eq!((status, body), (404, detail("Lobby not found")));
}

#[tokio::test]
async fn a_lobby_needs_an_existing_train_and_a_train_has_at_most_one() {
    let stack = Stack::start(1, |_| {}).await;
    let url = stack.gateway().url("/lobbies");
    let (status, body) = stack.post(url.clone(), json!({ "train_id": 42 })).await;
    assert_eq!((status, body), (404, detail("Train not found")));
    let train = stack.train(10).await;
    let first = stack.lobby(train).await;
    let (status, body) = stack.post(url.clone(), json!({ "train_id": train })).await;
    assert_eq!(
        (status, body),
        (409, detail("Lobby already exists for this train"))
    );
    // Once the first is gone the train may have a new one.
    stack
        .delete(stack.gateway().url(&format!("/lobbies/{first}")))
        .await;
    let second = stack.lobby(train).await;
    assert!(second > first);
}

#[tokio::test]
async fn invalid_input_is_a_422_listing_the_problem() {
    let stack = Stack::start(1, |_| {}).await;
    let gateway = stack.gateway();
    let (status, body) = stack.post(gateway.url("/lobbies"), json!({})).await;
    assert_eq!(status, 422);
    assert_eq!(
        body,
        json!({"detail":[{"loc":["body","train_id"],"msg":"Field required","type":"missing"}]})
    );
    let (status, body) = stack.get(gateway.url("/lobbies/abc")).await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["path", "lobby_id"]));
}

#[tokio::test]
async fn the_lobby_list_pages_after_an_id_and_bounds_its_offset() {
    let stack = Stack::start(1, |_| {}).await;
    let gateway = stack.gateway();
    let mut lobbies = Vec::new();
    for _ in 0..3 {
        let train = stack.train(10).await;
        lobbies.push(json!({ "train_id": train, "id": stack.lobby(train).await }));
    }
    let first = lobbies[0]["id"].as_i64().expect("id");
    let (status, body) = stack
        .get(gateway.url(&format!("/lobbies?limit=1&after_id={first}")))
        .await;
    assert_eq!((status, body), (200, json!([lobbies[1].clone()])));
    let (status, body) = stack
        .get(gateway.url(&format!("/ls/lobbies?after_id={first}")))
        .await;
    assert_eq!((status, body), (200, json!(lobbies[1..])));
    let (status, body) = stack.get(gateway.url("/lobbies?offset=10001")).await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["query", "offset"]));
    let (status, body) = stack.get(gateway.url("/lobbies?offset=1&after_id=1")).await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["query", "after_id"]));
}

#[tokio::test]
async fn removing_the_train_closes_its_lobby() {
    let stack = Stack::start(1, |_| {}).await;
    let train = stack.train(10).await;
    let lobby = stack.lobby(train).await;
    let (status, _) = stack
        .delete(stack.gateway().url(&format!("/ts/trains/{train}")))
        .await;
    assert_eq!(status, 200);
    let (status, body) = stack
        .get(stack.gateway().url(&format!("/lobbies/{lobby}")))
        .await;
    assert_eq!((status, body), (404, detail("Lobby not found")));
}

#[tokio::test]
async fn start_booking_books_through_the_command_api_and_passes_its_refusals_on() {
    let stack = Stack::start(1, |_| {}).await;
    let gateway = stack.gateway();
    let train = stack.train(1).await;
    let body = json!({ "train_id": train, "user_credentials": "Tom Ford" });
    let response = stack
        .client
        .post(gateway.url("/ls/start-booking"))
        .json(&body)
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("body");
    let booking = text
        .strip_prefix(r#"{"message":"Booking registered successfully","booking_id":"#)
        .and_then(|rest| rest.strip_suffix('}'))
        .and_then(|id| id.parse::<i64>().ok())
        .unwrap_or_else(|| panic!("not the documented reply: {text}"));
    let (status, shown) = stack
        .get(gateway.url(&format!("/ts/bookings/{booking}")))
        .await;
    assert_eq!(
        (status, shown["user_credentials"].clone()),
        (200, json!("Tom Ford"))
    );

    let (status, reply) = stack.post(gateway.url("/start-booking"), body).await;
    assert_eq!(
        (status, reply),
        (400, detail("User already has a booking for this train"))
    );
    let other = json!({ "train_id": train, "user_credentials": "Ann" });
    let (status, reply) = stack.post(gateway.url("/start-booking"), other).await;
    assert_eq!((status, reply), (409, detail("No seats left")));
    let missing = json!({ "train_id": 999, "user_credentials": "Ann" });
    let (status, reply) = stack.post(gateway.url("/start-booking"), missing).await;
    assert_eq!(
        (status, reply),
        (404, detail("Train to book ticket for not found"))
    );
    let (status, reply) = stack.post(gateway.url("/start-booking"), json!({})).await;
    assert_eq!(status, 422, "{reply}");
}

#[tokio::test]
async fn a_wrong_method_or_an_unknown_path_gets_a_json_error() {
    let stack = Stack::start(1, |_| {}).await;
    let gateway = stack.gateway();
    let reply = stack
        .send(stack.client.patch(gateway.url("/ls/lobbies")))
        .await;
    assert_eq!(
        (reply.status, reply.body),
        (405, detail("Method Not Allowed"))
    );
    let reply = stack.send(stack.client.put(gateway.url("/status"))).await;
    assert_eq!(
        (reply.status, reply.body),
        (405, detail("Method Not Allowed"))
    );
    let (status, body) = stack.get(gateway.url("/nowhere")).await;
    assert_eq!((status, body), (404, detail("Not Found")));
}
