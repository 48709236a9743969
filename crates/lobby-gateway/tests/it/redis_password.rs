//! Redis with a password, as compose runs it (`--requirepass`): a `redis-server` of the test's
//! own. With the password in `REDIS_URL`, two gateways share their rate limit and chat through
//! it. Without it, or with a wrong one, Redis refuses the link with a clear answer (`NOAUTH`, an
//! authentication failure) that the gateway takes as Redis being down: it keeps serving and limits each
//! client on its own, and nothing reaches Redis.

use crate::support::{PATIENCE, Stack, member, next_of, say};
use lobby_gateway::Settings;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Requests per client per window.
const LIMIT: u32 = 6;
const PASSWORD: &str = "a-test-password";

/// A `redis-server` that requires [`PASSWORD`], without persistence, killed when dropped.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// `None` when no `redis-server` is installed.
    async fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--requirepass",
                PASSWORD,
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => panic!("starting redis-server: {e}"),
        };
        let server = Self { child, port };
        let client = redis::Client::open(server.url(Some(PASSWORD))).expect("a Redis URL");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(mut connection) = client.get_multiplexed_async_connection().await {
                let pong: redis::RedisResult<String> =
                    redis::cmd("PING").query_async(&mut connection).await;
                if pong.is_ok() {
                    return Some(server);
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn url(&self, password: Option<&str>) -> String {
        match password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// The keys under `prefix`, read with the password.
    async fn keys(&self, prefix: &str) -> Vec<String> {
        let client = redis::Client::open(self.url(Some(PASSWORD))).expect("a Redis URL");
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect with the password");
        redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query_async(&mut connection)
            .await
            .expect("KEYS")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What Redis answers a client at `url`: the error of its first command, if any.
async fn refusal(url: &str) -> Option<redis::RedisError> {
    let client = redis::Client::open(url).expect("a Redis URL");
    let mut connection = match client.get_multiplexed_async_connection().await {
        Ok(connection) => connection,
        Err(e) => return Some(e),
    };
    let pong: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut connection).await;
    pong.err()
}

/// Queries of `lobby` as the client `address`, taking turns between `gateways`, until one is
/// refused with 429 or `count` have passed. Returns how many passed.
async fn queries_until_limited(
    stack: &Stack,
    gateways: &[usize],
    lobby: i64,
    address: &str,
    count: u32,
) -> u32 {
    for passed in 0..count {
        let gateway = &stack.gateways[gateways[passed as usize % gateways.len()]];
        let url = gateway.url(&format!("/lobbies/{lobby}"));
        let reply = stack
            .send(stack.client.get(&url).header("x-forwarded-for", address))
            .await;
        if reply.status == 429 {
            return passed;
        }
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    count
}

/// Gateway settings for `stack` on Redis at `url`, keys under `prefix`.
fn limited(settings: &mut Settings, url: &str, prefix: &str) {
    settings.redis_url = Some(url.to_owned());
    settings.redis_key_prefix = prefix.to_owned();
    settings.rate_limit = LIMIT;
    // Long enough that no window ends within the test.
    settings.rate_window_ms = 600_000;
    // The test's requests come straight from one address: one trusted hop lets each query
    // name its client.
    settings.trusted_proxies = lobby_gateway::TrustedProxies::Count(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_password_in_the_url_gateways_share_redis_and_without_it_redis_refuses_them() {
    let Some(redis) = RedisServer::start().await else {
        eprintln!("skipped: no redis-server installed to run with requirepass");
        return;
    };
    // Redis itself: no password, or a wrong one, is refused with its own clear answer.
    let anonymous = refusal(&redis.url(None))
        .await
        .expect("refused without a password");
    assert_eq!(anonymous.code(), Some("NOAUTH"), "{anonymous}");
    let wrong = refusal(&redis.url(Some("wrong")))
        .await
        .expect("refused a wrong password");
    assert_eq!(
        wrong.kind(),
        redis::ErrorKind::AuthenticationFailed,
        "{wrong}"
    );
    assert!(refusal(&redis.url(Some(PASSWORD))).await.is_none());

    let (with, without) = ("with-password:", "without-password:");
    let authorised = redis.url(Some(PASSWORD));
    let stack = Stack::start(2, |settings| limited(settings, &authorised, with)).await;
    let train = stack.train(100).await;
    let lobby = stack.lobby(train).await;
    // Two gateways whose URL lacks the password, beside the first two.
    let mut stack = stack;
    for _ in 0..2 {
        let upstreams = vec![stack.apis[0].url("")];
        let mut settings = Settings::new(([127, 0, 0, 1], 0).into(), upstreams);
        limited(&mut settings, &redis.url(None), without);
        // Not `start_gateway`: it waits for the chat channel, which these never get.
        let gateway = stack.spawn_gateway(settings).await;
        stack.gateways.push(gateway);
    }

    // With the password: one limit across both gateways, kept in Redis; chat crosses them.
    let shared = queries_until_limited(&stack, &[0, 1], lobby, "198.51.100.1", 4 * LIMIT).await;
    assert_eq!(shared, LIMIT, "the two gateways count one window together");
    let kept = redis.keys(with).await;
    assert!(
        kept.iter().any(|key| key.ends_with("198.51.100.1")),
        "{kept:?}"
    );
    let (mut a, mut b) = (
        member(&stack, 0, lobby).await,
        member(&stack, 1, lobby).await,
    );
    say(&mut a, "through redis").await;
    assert_eq!(next_of(&mut b, "chat").await["text"], "through redis");

    // Without it: refused by Redis, each gateway goes on and limits on its own.
    let alone = queries_until_limited(&stack, &[2, 3], lobby, "198.51.100.2", 4 * LIMIT).await;
    assert_eq!(alone, 2 * LIMIT, "each gateway counts its own window");
    assert_eq!(
        redis.keys(without).await,
        Vec::<String>::new(),
        "nothing reached Redis"
    );
    let url = stack.gateways[2].url(&format!("/lobbies/{lobby}"));
    let reply = stack
        .send(
            stack
                .client
                .get(&url)
                .header("x-forwarded-for", "198.51.100.2"),
        )
        .await;
    assert_eq!(reply.status, 429, "still limited, still serving");
    println!(
        "redis with requirepass: {shared} requests per window across 2 gateways with the password \
         ({} keys); {alone} without it (each gateway alone, 0 keys); refused with {anonymous} / {wrong}",
        kept.len()
    );
}
