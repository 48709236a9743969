//! (c2) holds over 100 trains, (d2) holds on one hot train and (m) the seat map read, measured
//! right after (c) and (d) in the same run, then (d3) and (c3), checkouts (`checkout`), on
//! the same signed-in roles.
//!
//! Holds need a signed-in traveller, while (c) to (f) book anonymously on the seed-000 paths
//! (`AUTH=off`, as old clients do). So for these figures a second command API and gateway
//! start with `AUTH=required` on the same log and read models (the projector is shared), and
//! stop again afterwards. Accounts are registered and signed in before anything is timed:
//! Argon2 costs each tens of milliseconds of CPU, so a hundred accounts serve all the clients,
//! five each, with the cap on holds per traveller raised so that sharing never refuses one.

use crate::checkout::{self, Checkouts};
use crate::cpu;
use crate::hold_load::{self, Holds, Layout, Load};
use crate::report::Row;
use crate::roles::{Env, Role, free_port, wait_ready};
use crate::seat_map::{self, Map};
use anyhow::{Context, bail, ensure};
use futures_util::{StreamExt, TryStreamExt};
use std::time::Duration;

/// Signed-in clients of (c2) and (d2), as many as the flash sale's.
pub const CLIENTS: usize = 500;
/// Accounts the clients share.
const ACCOUNTS: usize = 100;
/// Registrations and logins at once: each is an Argon2 hash on the API's blocking threads,
/// tens of MiB apiece, so more at once than this machine's two cores only raise the API's
/// peak memory.
const SIGNING_IN_AT_ONCE: usize = 2;
/// Trains of (c2), as many as (c)'s.
const TRAINS: i64 = 100;
/// Every train held on: 5,000 seats, the most a train may have, as in (d). Random picks
/// by 500 clients then collide now and then on the hot train, so both answers are measured.
const HELD_ON: Layout = Layout {
    coaches: 10,
    seats_per_coach: 500,
};
/// The train whose map is read: a realistic size.
const MAPPED: Layout = Layout {
    coaches: 5,
    seats_per_coach: 100,
};
/// Holds of two seats on it while it is read: a fifth of its seats.
const MAP_HOLDS: usize = 50;
/// Closed-loop readers of the seat map.
const MAP_READERS: usize = 16;

/// What the holds figures need from the rest of the run.
pub struct Stack<'a> {
    pub env: &'a Env,
    pub http: &'a reqwest::Client,
    /// The command API with `AUTH=off`, which registers the trains.
    pub api: &'a str,
    pub projector: &'a Role,
    /// The roles with `AUTH=off` (command API and gateway): they follow the log too, and the
    /// first command API leads the reactors that carry an order's steps.
    pub open: [&'a Role; 2],
    pub log: &'a sqlx::PgPool,
    /// Closed-loop clients of (d3) and (c3).
    pub checkout_clients: usize,
}

/// What the holds figures found.
pub struct Measured {
    /// (d2), (c2), (m), (d3) and (c3).
    pub rows: Vec<Row>,
    /// Where the CPU went during (d2), (c2), (d3) and (c3).
    pub profile: String,
    /// Peak memory (KiB) of the roles started for these figures.
    pub peaks: Vec<(&'static str, u64)>,
}

pub async fn measure(
    stack: &Stack<'_>,
    window: Duration,
    ceiling: f64,
) -> anyhow::Result<Measured> {
    let (api_port, gateway_port, provider_port) = (free_port()?, free_port()?, free_port()?);
    let api = format!("127.0.0.1:{api_port}");
    let gateway = format!("127.0.0.1:{gateway_port}");
    let provider = format!("127.0.0.1:{provider_port}");
    // Fresh each run, like everything else here; at least 32 bytes.
    let secret = format!("bench-{}", uuid::Uuid::now_v7().simple()).repeat(2);
    // Payments on, with the simulated provider delivering its webhooks to this command API.
    let payments = [
        (
            "PAYMENT_WEBHOOK_SECRET",
            format!("webhook-{}", uuid::Uuid::now_v7().simple()),
        ),
        ("PAYMENT_PROVIDER_URL", format!("http://{provider}")),
        ("PAYMENT_SIMULATOR_LISTEN", provider.clone()),
        (
            "PAYMENT_WEBHOOK_URL",
            format!("http://{api}/payments/webhook"),
        ),
    ];
    let auth = [
        ("AUTH", "required".to_owned()),
        ("AUTH_SECRET", secret),
        // Tokens are made before the timed part; an hour outlasts any run.
        ("ACCESS_TOKEN_TTL_SECS", "3600".into()),
    ];
    let mut api_settings = vec![
        ("COMMAND_API_LISTEN", api.clone()),
        ("DATABASE_MAX_CONNECTIONS", "12".into()),
        ("MAX_HOLDS_PER_USER_PER_TRAIN", "1000".into()),
    ];
    api_settings.extend(auth.clone());
    api_settings.extend(payments.clone());
    let simulator = Role::start(stack.env, "payment-simulator", &payments)?;
    let holds_api = Role::start_as(stack.env, "command-api", "holds-command-api", &api_settings)?;
    let mut gateway_settings = vec![
        ("GATEWAY_LISTEN", gateway.clone()),
        ("COMMAND_API_URLS", format!("http://{api}")),
        ("GATEWAY_TRUSTED_PROXIES", "1".into()),
        // It carries no lobby traffic; the log subscription is all it reads.
        ("DATABASE_MAX_CONNECTIONS", "2".into()),
    ];
    gateway_settings.extend(auth);
    let holds_gateway = Role::start_as(
        stack.env,
        "lobby-gateway",
        "holds-lobby-gateway",
        &gateway_settings,
    )?;
    let ready = Duration::from_secs(60);
    wait_ready(stack.http, &format!("http://{api}/health/ready"), ready).await?;
    wait_ready(stack.http, &format!("http://{gateway}/health/ready"), ready).await?;
    wait_ready(stack.http, &format!("http://{provider}/health"), ready).await?;

    eprintln!("    signing in {ACCOUNTS} travellers");
    let tokens = sign_in(stack.http, &api).await?;
    let hot = new_train(stack.http, stack.api, HELD_ON).await?;
    let first = new_train(stack.http, stack.api, HELD_ON).await?;
    for n in 1..TRAINS {
        let id = new_train(stack.http, stack.api, HELD_ON).await?;
        ensure!(id == first + n, "train ids are not consecutive");
    }
    let mapped = new_train(stack.http, stack.api, MAPPED).await?;

    let roles = [&holds_api, stack.projector, &holds_gateway];
    let mut rows = Vec::new();
    let mut profile = String::new();
    let spread = format!("{TRAINS} trains");
    for (tag, on, first_train, trains) in [
        ("(d2)", "1 hot train", hot, 1),
        ("(c2)", spread.as_str(), first, TRAINS),
    ] {
        let figure = format!("{tag} HTTP holds via gateway, {on}, {CLIENTS} clients");
        eprintln!("{figure}, {window:?}");
        let load = Load {
            gateway: &gateway,
            tokens: &tokens,
            first_train,
            trains,
            layout: HELD_ON,
            clients: CLIENTS,
            window,
        };
        let before = cpu::snapshot(&roles, stack.log).await?;
        let holds: Holds = hold_load::run(stack.http, &load).await?;
        let after = cpu::snapshot(&roles, stack.log).await?;
        let during = format!(
            "CPU during {tag}, {} holds and releases:\n{}",
            holds.held + holds.refused + holds.released,
            cpu::breakdown(
                &before,
                &after,
                (holds.held + holds.refused + holds.released) as f64,
                "request"
            )
        );
        eprint!("{during}");
        profile.push_str(&during);
        rows.push(holds.row(figure, ceiling));
    }

    hold_some(stack.http, &api, &tokens, mapped).await?;
    let held = seat_map::held_seats(stack.http, &gateway, mapped).await?;
    let map = Map {
        train: mapped,
        seats: MAPPED.seats(),
        held,
    };
    eprintln!("(m) seat map read, {MAP_READERS} readers, {window:?}");
    let reads = seat_map::measure(stack.http, &gateway, map, MAP_READERS, window).await?;
    rows.push(reads.row());

    let roles = [
        stack.open[0],
        &holds_api,
        stack.projector,
        &holds_gateway,
        stack.open[1],
        &simulator,
    ];
    let target = checkout::Target {
        http: stack.http,
        gateway: &gateway,
        tokens: &tokens,
        roles: &roles,
        log: stack.log,
    };
    let inboxes = checkout::listen(&gateway, &tokens).await?;
    let hot = new_train(stack.http, stack.api, HELD_ON).await?;
    let first = new_train(stack.http, stack.api, HELD_ON).await?;
    for n in 1..TRAINS {
        let id = new_train(stack.http, stack.api, HELD_ON).await?;
        ensure!(id == first + n, "train ids are not consecutive");
    }
    let clients = stack.checkout_clients;
    for (tag, on, first_train, trains) in [
        ("(d3)", "1 hot train", hot, 1),
        ("(c3)", spread.as_str(), first, TRAINS),
    ] {
        let figure = format!("{tag} checkouts via gateway, {on}, {clients} clients");
        eprintln!("{figure}, {window:?}");
        let load = checkout::Load {
            first_train,
            trains,
            layout: HELD_ON,
            clients,
            window,
        };
        let checkouts: Checkouts = checkout::run(&target, &inboxes, &load).await?;
        let during = format!(
            "CPU during {tag}, {} checkouts confirmed:\n{}",
            checkouts.confirmed, checkouts.during
        );
        eprint!("{during}");
        profile.push_str(&during);
        rows.push(checkouts.row(figure, ceiling));
    }

    let mut peaks = Vec::new();
    for role in [holds_api, holds_gateway, simulator] {
        let peak = role
            .peak_kib()
            .with_context(|| format!("peak memory of {}", role.name))?;
        peaks.push((role.name, peak));
        role.stop();
    }
    Ok(Measured {
        rows,
        profile,
        peaks,
    })
}

/// Registers `ACCOUNTS` travellers on `api` and signs each in; their access tokens.
async fn sign_in(http: &reqwest::Client, api: &str) -> anyhow::Result<Vec<String>> {
    futures_util::stream::iter(0..ACCOUNTS)
        .map(|n| async move {
            let email = format!("traveller-{n}@bench.example.org");
            let password = format!("bench-password-{n}");
            let registered = http
                .post(format!("http://{api}/api/users/register"))
                .json(&serde_json::json!({
                    "username": format!("traveller-{n}"),
                    "email": email,
                    "password": password,
                }))
                .send()
                .await?;
            if registered.status() != reqwest::StatusCode::CREATED {
                bail!("registering a traveller: {}", registered.status());
            }
            let tokens: serde_json::Value = http
                .post(format!("http://{api}/api/users/login"))
                .json(&serde_json::json!({ "email": email, "password": password }))
                .send()
                .await?
                .error_for_status()
                .context("signing a traveller in")?
                .json()
                .await?;
            tokens["token"]
                .as_str()
                .map(str::to_owned)
                .context("no token in the login's answer")
        })
        .buffer_unordered(SIGNING_IN_AT_ONCE)
        .try_collect()
        .await
}

/// A priced train laid out as `layout`, registered on the command API with `AUTH=off`.
async fn new_train(http: &reqwest::Client, api: &str, layout: Layout) -> anyhow::Result<i64> {
    let response = http
        .post(format!("http://{api}/trains"))
        .json(&serde_json::json!({
            "route": "Chisinau-Bucuresti",
            "departure_time": "2027-03-01T06:30",
            "arrival_time": "2027-03-01T15:40",
            "available_seats": layout.seats(),
            "coaches": layout.coaches_json(),
            "prices": { "first": 4500, "second": 2500 },
            "currency": "EUR",
        }))
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("creating a train: {}", response.status());
    }
    Ok(response.json().await?)
}

/// `MAP_HOLDS` holds of two neighbouring seats, spread over the whole train.
async fn hold_some(
    http: &reqwest::Client,
    api: &str,
    tokens: &[String],
    train: i64,
) -> anyhow::Result<()> {
    let spacing = MAPPED.seats() / MAP_HOLDS;
    for (n, token) in (0..MAP_HOLDS).zip(tokens.iter().cycle()) {
        let seats = [MAPPED.seat(n * spacing), MAPPED.seat(n * spacing + 1)];
        let held = http
            .post(format!("http://{api}/trains/{train}/holds"))
            .bearer_auth(token)
            .json(&serde_json::json!({ "seats": seats }))
            .send()
            .await?;
        if held.status() != reqwest::StatusCode::CREATED {
            bail!("holding seats on the mapped train: {}", held.status());
        }
    }
    Ok(())
}
