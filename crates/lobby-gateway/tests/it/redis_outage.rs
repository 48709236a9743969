//! Redis goes away: a proxy between the services and Redis resets every connection. Commands
//! and queries keep working; the rest degrades as README documents, and comes back by itself:
//! - `Idempotency-Key` is not enforced (a retry runs again) instead of failing the request;
//! - the rate limit goes on inside each instance: the same limit per client and window;
//! - chat stays within each gateway instance.

use crate::support::{PATIENCE, Reply, Socket, Stack, eventually, member, next_of, redis_url, say};
use event_store::testing::proxy::{Proxy, authority};
use serde_json::json;
use std::time::Duration;

/// Requests per client per window while Redis counts them.
const LIMIT: u32 = 10;

/// Queries of `lobby` through `stack`'s first gateway as the client `address` (the gateway
/// trusts `X-Forwarded-For`), until one is refused with 429 or `count` have passed. Returns
/// how many passed.
async fn queries_until_limited(stack: &Stack, lobby: i64, address: &str, count: u32) -> u32 {
    let url = stack.gateway().url(&format!("/lobbies/{lobby}"));
    for passed in 0..count {
        let reply = stack
            .send(stack.client.get(&url).header("x-forwarded-for", address))
            .await;
        if reply.status == 429 {
            assert!(reply.headers.contains_key("retry-after"));
            return passed;
        }
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    count
}

/// Two `POST /trains` with one `Idempotency-Key`; the second reply.
async fn posted_twice(stack: &Stack, api: &str, key: &str) -> (Reply, Reply) {
    let body = json!({
        "route": "Iasi-Cluj",
        "departure_time": "2024-09-25T06:30",
        "arrival_time": "2024-09-26T11:40",
        "available_seats": 10,
    });
    let post = || {
        stack
            .client
            .post(format!("{api}/trains"))
            .header("idempotency-key", key)
            .json(&body)
    };
    (stack.send(post()).await, stack.send(post()).await)
}

fn replayed(reply: &Reply) -> bool {
    reply
        .headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

/// The next chat line `socket` receives, if one comes within a second.
async fn chat_soon(socket: &mut Socket) -> Option<serde_json::Value> {
    tokio::time::timeout(Duration::from_secs(1), next_of(socket, "chat"))
        .await
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_away_commands_and_queries_work_and_the_rest_degrades_as_documented() {
    let proxy = Proxy::start(authority(&redis_url(), 6379)).await;
    let through_proxy = proxy.url(&redis_url());
    let prefix = format!("test-{}:", uuid::Uuid::now_v7().simple());
    let stack = Stack::start(2, |settings| {
        settings.redis_url = Some(through_proxy.clone());
        settings.rate_limit = LIMIT;
        // Long enough that no window ends within the test.
        settings.rate_window_ms = 600_000;
        // The test's requests come straight from one address: one trusted hop lets each
        // query name its client.
        settings.trusted_proxies = lobby_gateway::TrustedProxies::Count(1);
    })
    .await;
    let api = stack
        .start_api_with(([127, 0, 0, 1], 0).into(), |settings| {
            settings.redis_url = Some(through_proxy.clone());
            settings.redis_key_prefix = prefix;
        })
        .await;
    let api = api.url("");
    let train = stack.train(100).await;
    let lobby = stack.lobby(train).await;
    // Straight from the read model: a query through the gateway would count against the limit.
    eventually(|| async {
        sqlx::query("SELECT 1 FROM read_models.lobbies WHERE id = $1")
            .bind(lobby)
            .fetch_optional(&stack.pool)
            .await
            .is_ok_and(|row| row.is_some())
    })
    .await;
    let (mut a1, mut a2) = (
        member(&stack, 0, lobby).await,
        member(&stack, 0, lobby).await,
    );
    let mut b1 = member(&stack, 1, lobby).await;

    // With Redis: keys are enforced, the limit counts, chat crosses instances.
    let (first, again) = posted_twice(&stack, &api, "before").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(
        replayed(&again) && again.body == first.body,
        "{}",
        again.body
    );
    assert_eq!(
        queries_until_limited(&stack, lobby, "198.51.100.1", 50).await,
        LIMIT
    );
    say(&mut a1, "before").await;
    assert_eq!(next_of(&mut b1, "chat").await["text"], "before");
    assert_eq!(next_of(&mut a2, "chat").await["text"], "before");

    proxy.down();
    // Commands and queries, through the gateway and its start-booking, keep working.
    let gateway = stack.gateway();
    let body = json!({ "train_id": train, "user_credentials": "Ann" });
    let (status, booking) = stack.post(gateway.url("/ts/bookings"), body).await;
    assert_eq!(status, 200, "{booking}");
    let (status, view) = stack
        .get(gateway.url(&format!("/ts/bookings/{booking}")))
        .await;
    assert_eq!((status, &view["user_credentials"]), (200, &json!("Ann")));
    stack.start_booking(train, "Bob").await;
    let (status, view) = stack.get(gateway.url(&format!("/ts/trains/{train}"))).await;
    assert_eq!((status, &view["available_seats"]), (200, &json!(98)));
    // A retry with the same key runs again: two trains, nothing replayed.
    let (first, again) = posted_twice(&stack, &api, "during").await;
    assert_eq!((first.status, again.status), (200, 200));
    assert!(
        !replayed(&again) && again.body != first.body,
        "{}",
        again.body
    );
    // The rate limit goes on inside each instance: still LIMIT per client and window.
    assert_eq!(
        queries_until_limited(&stack, lobby, "198.51.100.2", 5 * LIMIT).await,
        LIMIT
    );
    // Chat reaches the members on the same instance only.
    say(&mut a1, "during").await;
    assert_eq!(next_of(&mut a2, "chat").await["text"], "during");

    proxy.up();
    // Each part comes back by itself once it tries Redis again.
    eventually(|| async {
        let key = uuid::Uuid::now_v7().to_string();
        replayed(&posted_twice(&stack, &api, &key).await.1)
    })
    .await;
    eventually(|| async {
        queries_until_limited(&stack, lobby, "198.51.100.3", LIMIT + 1).await <= LIMIT
    })
    .await;
    let back = tokio::time::timeout(PATIENCE, async {
        loop {
            say(&mut a1, "after").await;
            if let Some(chat) = chat_soon(&mut b1).await {
                return chat;
            }
        }
    })
    .await
    .expect("chat crosses instances again");
    assert_eq!(
        back["text"], "after",
        "the line said while Redis was away never crosses"
    );
}
