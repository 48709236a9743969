//! Who a client is, for the rate limit: a client cannot become someone else by writing its own
//! `X-Forwarded-For`, nor by rotating addresses within its IPv6 /64.

use crate::support::Stack;
use lobby_gateway::TrustedProxies;

const LIMIT: u32 = 3;

/// How many of `count` requests, each with the `X-Forwarded-For` that `header` makes from its
/// index, pass before the first 429.
async fn passed(stack: &Stack, count: u32, header: impl Fn(u32) -> String) -> u32 {
    let url = stack.gateway().url("/lobbies");
    for n in 0..count {
        let reply = stack
            .send(stack.client.get(&url).header("x-forwarded-for", header(n)))
            .await;
        if reply.status == 429 {
            return n;
        }
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    count
}

async fn limited(trusted_proxies: TrustedProxies) -> Stack {
    Stack::start(1, move |settings| {
        settings.rate_limit = LIMIT;
        // No window ends within the test.
        settings.rate_window_ms = 600_000;
        settings.trusted_proxies = trusted_proxies.clone();
    })
    .await
}

#[tokio::test]
async fn without_trusted_proxies_a_forged_header_changes_nobody() {
    let stack = limited(TrustedProxies::None).await;
    let forged = |n| format!("203.0.113.{n}");
    assert_eq!(passed(&stack, 10, forged).await, LIMIT);
}

#[tokio::test]
async fn behind_a_proxy_the_entries_a_client_writes_first_are_not_believed() {
    // The test client stands for the proxy: it appends the address it saw last.
    let stack = limited(TrustedProxies::Count(1)).await;
    let prepended = |n| format!("203.0.113.{n}, 198.51.100.9");
    assert_eq!(passed(&stack, 10, prepended).await, LIMIT);
    // Another address behind the proxy is another client.
    let other = |_| "198.51.100.10".to_owned();
    assert_eq!(passed(&stack, 10, other).await, LIMIT);
}

#[tokio::test]
async fn rotating_addresses_within_an_ipv6_slash_64_changes_nobody() {
    let stack = limited(TrustedProxies::Count(1)).await;
    let rotated = |n| format!("2001:db8:1:2::{n:x}");
    assert_eq!(passed(&stack, 10, rotated).await, LIMIT);
    let next_block = |_| "2001:db8:1:3::1".to_owned();
    assert_eq!(passed(&stack, 10, next_block).await, LIMIT);
}
