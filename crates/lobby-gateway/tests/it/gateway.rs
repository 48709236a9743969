//! The gateway in front of the command API: forwarding, timeouts, the breaker, the rate limit.

use crate::support::{Stack, detail, eventually};
use lobby_gateway::Settings;
use serde_json::json;

#[tokio::test]
async fn ts_paths_are_forwarded_with_bodies_headers_and_statuses_intact() {
    let stack = Stack::start(1, |_| {}).await;
    let gateway = stack.gateway();
    let train = stack.train(5).await;
    let reply = stack
        .send(
            stack
                .client
                .post(gateway.url("/ts/bookings"))
                .header("Idempotency-Key", "abc")
                .body(r#"{"train_id": 1, "user_credentials": "Tom Ford"}"#),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.headers.contains_key("x-event-position"));
    let content_types: Vec<_> = reply.headers.get_all("content-type").iter().collect();
    assert_eq!(content_types, ["application/json"]);
    let (status, body) = stack
        .get(gateway.url(&format!("/ts/trains/{train}?unused=1")))
        .await;
    assert_eq!((status, body["available_seats"].clone()), (200, json!(4)));
    let (status, body) = stack.get(gateway.url("/ts/trains/77")).await;
    assert_eq!((status, body), (404, detail("Train not found")));
    let (status, body) = stack.get(gateway.url("/ts/trains?limit=0")).await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test]
async fn over_the_rate_limit_a_client_gets_429_with_retry_after() {
    let stack = Stack::start(1, |settings| {
        settings.rate_limit = 3;
        settings.rate_window_ms = 60_000;
    })
    .await;
    let url = stack.gateway().url("/lobbies");
    for _ in 0..3 {
        assert_eq!(stack.get(url.clone()).await.0, 200);
    }
    let reply = stack.send(stack.client.get(url.clone())).await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.body, detail("Too many requests, please slow down"));
    let retry_after: u64 = reply.headers["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // The status check is never limited.
    assert_eq!(stack.get(stack.gateway().url("/status")).await.0, 200);
}

#[tokio::test]
async fn the_rate_limit_is_shared_by_gateway_instances() {
    let stack = Stack::start(2, |settings| {
        settings.rate_limit = 2;
        settings.rate_window_ms = 60_000;
    })
    .await;
    assert_eq!(stack.get(stack.gateways[0].url("/lobbies")).await.0, 200);
    assert_eq!(stack.get(stack.gateways[1].url("/lobbies")).await.0, 200);
    assert_eq!(stack.get(stack.gateways[0].url("/lobbies")).await.0, 429);
    assert_eq!(stack.get(stack.gateways[1].url("/lobbies")).await.0, 429);
}

#[tokio::test]
async fn with_redis_down_each_instance_rate_limits_on_its_own() {
    let stack = Stack::start(0, |_| {}).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address")
    };
    let mut settings = Settings::new(([127, 0, 0, 1], 0).into(), vec![stack.apis[0].url("")]);
    settings.redis_url = Some(format!("redis://{closed}"));
    settings.rate_limit = 1;
    let gateway = stack.spawn_gateway(settings).await;
    assert_eq!(stack.get(gateway.url("/lobbies")).await.0, 200);
    for _ in 0..2 {
        let reply = stack.send(stack.client.get(gateway.url("/lobbies"))).await;
        assert_eq!(reply.status, 429, "{}", reply.body);
        assert!(reply.headers.contains_key("retry-after"));
    }
}

#[tokio::test]
async fn with_the_command_api_down_the_gateway_answers_503_and_recovers_when_it_returns() {
    let mut stack = Stack::start(1, |settings| {
        settings.breaker_failures = 2;
        settings.breaker_cooldown_ms = 100;
    })
    .await;
    let train = stack.train(5).await;
    let address = stack.apis[0].address;
    stack.apis[0].stop().await;
    let url = stack.gateway().url(&format!("/ts/trains/{train}"));
    for _ in 0..4 {
        let reply = stack.send(stack.client.get(url.clone())).await;
        assert_eq!(reply.status, 503);
        assert_eq!(
            reply.body,
            detail("Service temporarily unavailable, please retry")
        );
        assert!(reply.headers.contains_key("retry-after"));
    }
    let booking = json!({ "train_id": train, "user_credentials": "Ann" });
    let (status, _) = stack
        .post(stack.gateway().url("/start-booking"), booking)
        .await;
    assert_eq!(status, 503);

    let api = stack.start_api(address).await;
    stack.apis[0] = api;
    let stack = &stack;
    eventually(|| {
        let url = url.clone();
        async move { stack.get(url).await.0 == 200 }
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_instance_is_skipped() {
    let stack = Stack::start(0, |_| {}).await;
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address")
    };
    let upstreams = vec![format!("http://{dead}"), stack.apis[0].url("")];
    let mut settings = Settings::new(([127, 0, 0, 1], 0).into(), upstreams);
    settings.rate_limit = 0;
    let gateway = stack.start_gateway(settings).await;
    for _ in 0..6 {
        let (status, body) = stack.get(gateway.url("/ts/trains")).await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test]
async fn a_command_api_that_does_not_answer_in_time_gives_504() {
    let stack = Stack::start(0, |_| {}).await;
    // Accepts connections (the kernel does) but never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let upstreams = vec![format!("http://{}", silent.local_addr().expect("address"))];
    let mut settings = Settings::new(([127, 0, 0, 1], 0).into(), upstreams);
    settings.upstream_timeout_ms = 200;
    settings.rate_limit = 0;
    let gateway = stack.start_gateway(settings).await;
    let (status, body) = stack.get(gateway.url("/ts/trains")).await;
    assert_eq!(
        (status, body),
        (504, detail("Upstream service timed out, please retry"))
    );
    drop(silent);
}

#[tokio::test]
async fn accounts_are_served_through_the_gateway_and_any_instance_accepts_a_token() {
    let mut stack = Stack::start(1, |_| {}).await;
    let gateway = stack.gateway();
    let registration =
        json!({"username": "tom", "email": "tom@example.org", "password": "correct horse"});
    let (status, registered) = stack
        .post(gateway.url("/api/users/register"), registration)
        .await;
    assert_eq!(status, 201, "{registered}");
    let credentials = json!({"email": "tom@example.org", "password": "correct horse"});
    let (status, login) = stack
        .post(gateway.url("/api/users/login"), credentials)
        .await;
    assert_eq!(status, 200, "{login}");
    let token = login["token"].as_str().expect("a token").to_owned();
    let (status, jwks) = stack.get(gateway.url("/.well-known/jwks.json")).await;
    assert_eq!((status, &jwks["keys"][0]["kty"]), (200, &json!("OKP")));

    // A second command API instance, started after the token was issued, accepts it: the
    // keys live in the database every instance shares.
    let second = stack.start_api(([127, 0, 0, 1], 0).into()).await;
    let reply = stack
        .send(
            stack
                .client
                .get(second.url("/api/users/profile"))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["id"], registered["id"]);
    stack.apis.push(second);
}

#[tokio::test]
async fn a_train_that_cannot_be_read_does_not_open_the_breaker_for_everyone() {
    use event_store::{EventStore, ExpectedRevision, NewEvent};
    let stack = Stack::start(1, |settings| settings.breaker_failures = 2).await;
    let gateway = stack.gateway();
    let garbled = NewEvent {
        id: uuid::Uuid::now_v7(),
        event_type: "TrainRegistered".into(),
        data: json!({"train_id": "nine"}),
        metadata: json!({}),
    };
    stack
        .store
        .append("train-9", ExpectedRevision::Any, vec![garbled])
        .await
        .expect("append");
    for _ in 0..4 {
        let booking = json!({"train_id": 9, "user_credentials": "Tom Ford"});
        let (status, body) = stack.post(gateway.url("/ts/bookings"), booking).await;
        assert_eq!((status, body), (503, detail("Temporarily unavailable")));
    }
    // The instance answered each time; other trains are still served through it.
    let train = stack.train(5).await;
    let (status, _) = stack.get(gateway.url(&format!("/ts/trains/{train}"))).await;
    assert_eq!(status, 200);
}
