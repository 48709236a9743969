//! One run: start the roles, measure each figure in turn, stop everything, build the rows.

use crate::report::{Goal, Row, per_second};
use crate::roles::{Env, Role, free_port, open_files_limit, wait_ready};
use crate::{Scale, bookings, ceiling, cpu, holds, lobby, replay, ryw};
use anyhow::{Context, ensure};
use event_store::testing::TestDatabase;
use std::time::Duration;

/// The table's rows, the goals' lines and, for where the time went, the CPU breakdowns.
pub async fn run(scale: &Scale) -> anyhow::Result<(Vec<Row>, Vec<Goal>, String)> {
    let members = scale.members();
    let files = open_files_limit()?;
    // Both ends of every member's socket are on this machine: ours here, and the gateway's,
    // which inherits this limit.
    ensure!(
        files >= members as u64 + 1000,
        "{members} lobby members need more open files than the limit of {files}: raise it \
         (ulimit -n; scripts/bench does) or pass --members"
    );
    let scratch = std::env::temp_dir().join(format!("booking-bench-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&scratch)?;
    eprintln!("logs of every role: {}", scratch.display());

    let appends = if scale.holds_only {
        None
    } else {
        eprintln!("(a)+(b) append sweep over {:?} clients", scale.levels());
        Some(ceiling::measure(&scale.levels(), scale.window(), &scratch).await?)
    };
    // Without the sweep no figure has a ratio to (a).
    let ceiling = appends.as_ref().map_or(0.0, |appends| appends.ceiling.rate);
    let append_cpu = appends
        .as_ref()
        .map_or(Duration::ZERO, |appends| appends.append_cpu);

    let log_db = TestDatabase::create().await;
    let warehouse_db = TestDatabase::create().await;
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let tag = &tag[tag.len() - 10..];
    let amqp = projector::feed::Amqp::new(
        std::env::var("TEST_AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into()),
        format!("bench-{tag}"),
    );
    let env = Env {
        vars: vec![
            ("DATABASE_URL".into(), log_db.url.clone()),
            ("WAREHOUSE_DATABASE_URL".into(), warehouse_db.url.clone()),
            (
                "REDIS_URL".into(),
                std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
            ),
            ("REDIS_KEY_PREFIX".into(), format!("bench-{tag}:")),
            (
                "GATEWAY_REDIS_KEY_PREFIX".into(),
                format!("bench-{tag}-gateway:"),
            ),
            ("AMQP_URL".into(), amqp.url.clone()),
            ("AMQP_PREFIX".into(), amqp.prefix.clone()),
            // The seed-000 paths open, as old clients use them: (c) to (f) book anonymously,
            // each request as a new traveller. The holds figures start roles of their own
            // that require tokens (`holds`).
            ("AUTH".into(), "off".into()),
        ],
        logs: scratch.clone(),
    };
    let unit = Ceiling {
        rate: ceiling,
        append_cpu,
    };
    let result = measure_stack(scale, &env, &log_db, &warehouse_db, unit).await;
    etl::testing::delete_topology(&amqp).await;
    let (mut rows, peaks, goals, profile) = result?;

    let mut table = Vec::new();
    if let Some(appends) = &appends {
        table.push(
            Row::new(
                "(a) ceiling: raw append transaction",
                format!(
                    "{} events/s at {} clients, {:.3} ms of the machine's CPU each",
                    per_second(ceiling).trim_end_matches("/s"),
                    appends.ceiling.clients,
                    append_cpu.as_secs_f64() * 1e3
                ),
            )
            .rate(ceiling, ceiling),
        );
        table.push(
            Row::new(
                "(b) event store append (adapter)",
                format!(
                    "{} events/s at {} writers",
                    per_second(appends.adapter.rate).trim_end_matches("/s"),
                    appends.adapter.clients
                ),
            )
            .rate(appends.adapter.rate, ceiling),
        );
    }
    table.append(&mut rows);
    for (role, kib) in peaks {
        table.push(Row::new(
            format!("peak memory: {role}"),
            format!("{:.1} MiB", kib as f64 / 1024.0),
        ));
    }
    if let Some(appends) = &appends {
        eprintln!("append sweep (clients: ceiling, adapter events/s):");
        for (clients, ceiling, adapter) in &appends.sweep {
            eprintln!("  {clients:>3}: {ceiling:>8.0} {adapter:>8.0}");
        }
    }
    Ok((table, goals, profile))
}

type Peaks = Vec<(&'static str, u64)>;
/// Rows, peak memory of each role, the goals and the CPU breakdowns.
type Measured = (Vec<Row>, Peaks, Vec<Goal>, String);

/// The ceiling (a) as the other figures are measured against it: its rate, and the machine's
/// CPU per raw append there (zero without the sweep).
#[derive(Clone, Copy)]
struct Ceiling {
    rate: f64,
    append_cpu: Duration,
}

/// The sum of a counter's series on a role's `/metrics` page (0 before its first increment).
async fn counter(http: &reqwest::Client, ops: &str, name: &str) -> anyhow::Result<f64> {
    let page = http
        .get(format!("http://{ops}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    Ok(page
        .lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum())
}

async fn measure_stack(
    scale: &Scale,
    env: &Env,
    log_db: &TestDatabase,
    warehouse_db: &TestDatabase,
    unit: Ceiling,
) -> anyhow::Result<Measured> {
    let ceiling = unit.rate;
    let window = scale.window();
    let members = scale.members();
    env.run_to_end(&["migrate"], "migrate")?;
    let (api_port, ops_port, gateway_port, etl_port) =
        (free_port()?, free_port()?, free_port()?, free_port()?);
    let api_address = format!("127.0.0.1:{api_port}");
    let gateway = format!("127.0.0.1:{gateway_port}");
    // Each role has two pools of this size (event store, read models). Together they stay
    // well inside PostgreSQL's default limit of 100 connections, which other clients of the
    // server share.
    let api = Role::start(
        env,
        "command-api",
        &[
            ("COMMAND_API_LISTEN", api_address.clone()),
            ("DATABASE_MAX_CONNECTIONS", "12".into()),
        ],
    )?;
    let projector = Role::start(
        env,
        "projector",
        &[
            ("OPS_LISTEN", format!("127.0.0.1:{ops_port}")),
            ("DATABASE_MAX_CONNECTIONS", "4".into()),
        ],
    )?;
    let gateway_role = Role::start(
        env,
        "lobby-gateway",
        &[
            ("GATEWAY_LISTEN", gateway.clone()),
            ("COMMAND_API_URLS", format!("http://{api_address}")),
            // Load comes from many (made-up) client addresses, so the Redis rate limit runs
            // as it would in front of many users.
            ("GATEWAY_TRUSTED_PROXIES", "1".into()),
            ("GATEWAY_MAX_WEBSOCKETS", (members + 100).to_string()),
            // Every member comes from this one machine.
            ("GATEWAY_WS_PER_CLIENT", (members + 100).to_string()),
            ("DATABASE_MAX_CONNECTIONS", "4".into()),
        ],
    )?;
    let http = reqwest::Client::new();
    let ready = Duration::from_secs(60);
    wait_ready(&http, &format!("http://{api_address}/health/ready"), ready).await?;
    wait_ready(
        &http,
        &format!("http://127.0.0.1:{ops_port}/health/ready"),
        ready,
    )
    .await?;
    wait_ready(&http, &format!("http://{gateway}/health/ready"), ready).await?;

    let log = log_db.pool(4).await;
    let mut rows = Vec::new();
    let holds_stack = holds::Stack {
        env,
        http: &http,
        api: &api_address,
        projector: &projector,
        open: [&api, &gateway_role],
        log: &log,
        checkout_clients: scale.checkout_clients,
    };
    if scale.holds_only {
        let held = holds::measure(&holds_stack, window, ceiling).await?;
        for row in held.rows {
            record(&mut rows, row);
        }
        let mut peaks = stop([api, projector, gateway_role])?;
        peaks.extend(held.peaks);
        return Ok((rows, peaks, Vec::new(), held.profile));
    }
    let first_train = bookings::new_trains(&http, &api_address).await?;

    eprintln!(
        "(c) booking throughput: {} connections over {} trains, {window:?}",
        scale.connections,
        bookings::TRAINS
    );
    let roles = [&api, &projector, &gateway_role];
    let ops = format!("127.0.0.1:{ops_port}");
    let messages = "warehouse_feed_messages_published_total";
    let published = counter(&http, &ops, messages).await?;
    let before = cpu::snapshot(&roles, &log).await?;
    let (row, booking_rate) = tokio::task::block_in_place(|| {
        bookings::throughput(&gateway, first_train, scale.connections, window, ceiling)
    })?;
    let after = cpu::snapshot(&roles, &log).await?;
    let bookings = booking_rate * window.as_secs_f64();
    let mut goals = vec![Goal::new(
        "(c) at least 25% of (a)",
        format!(
            "{} = {:.0}% of (a)",
            per_second(booking_rate),
            booking_rate / ceiling.max(1.0) * 100.0
        ),
        booking_rate >= 0.25 * ceiling,
    )];
    let per_booking = cpu::stack_per_unit(&before, &after, bookings);
    let in_appends = per_booking.as_secs_f64() / unit.append_cpu.as_secs_f64().max(1e-9);
    record(
        &mut rows,
        Row::new(
            "(c) stack CPU per booking, in ceiling appends",
            format!(
                "{:.3} ms = {in_appends:.1} appends of {:.3} ms (every process but the load generator)",
                per_booking.as_secs_f64() * 1e3,
                unit.append_cpu.as_secs_f64() * 1e3
            ),
        )
        .target("<= 4 appends", in_appends <= 4.0),
    );
    goals.push(Goal::new(
        "stack CPU per booking at most 4 ceiling appends",
        format!("{in_appends:.1} appends"),
        in_appends <= 4.0,
    ));
    // Settled: the feed publishes what (c) appended within its linger.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let per_booking = (counter(&http, &ops, messages).await? - published) / bookings.max(1.0);
    record(
        &mut rows,
        Row::new(
            "(c) broker messages per booking",
            format!("{per_booking:.3}"),
        )
        .target("<= 0.05", per_booking <= 0.05),
    );
    goals.push(Goal::new(
        "broker messages per booking at most 0.05",
        format!("{per_booking:.3}"),
        per_booking <= 0.05,
    ));
    let mut profile = format!(
        "CPU during (c), {bookings:.0} bookings:\n{}",
        cpu::breakdown(&before, &after, bookings, "booking")
    );
    eprint!("{profile}");
    record(&mut rows, row);

    eprintln!("(d) flash sale");
    // It stops the run on any seat sold twice, so a row means none was.
    let sale =
        bookings::flash_sale(&http, &api_address, &gateway, &log, ceiling, booking_rate).await?;
    goals.push(Goal::new(
        "(d) no seat sold twice",
        sale.value.clone(),
        true,
    ));
    record(&mut rows, sale);

    eprintln!("(d2)+(c2)+(m)+(d3)+(c3) holds, the seat map and checkouts, signed in");
    let held = holds::measure(&holds_stack, window, ceiling).await?;
    for row in held.rows {
        record(&mut rows, row);
    }
    profile.push_str(&held.profile);

    let half = scale.ryw_rate.unwrap_or(booking_rate / 2.0);
    let runs = [
        (scale.ryw_steady_rate, "ryw-steady", true),
        (half, "ryw-half", false),
    ];
    for (rate, tag, goal) in runs {
        eprintln!("(e) read your writes at {rate:.0}/s for {window:?}");
        let target = ryw::Target {
            gateway: &gateway,
            first_train,
            trains: bookings::TRAINS,
            tag,
        };
        let before = cpu::snapshot(&roles, &log).await?;
        let ryw = ryw::measure(&http, &target, rate, window).await?;
        let after = cpu::snapshot(&roles, &log).await?;
        let during_ryw = format!(
            "CPU during (e) at {rate:.0}/s, {} bookings and queries:\n{}",
            ryw.offered,
            cpu::breakdown(&before, &after, ryw.offered as f64, "booking")
        );
        eprint!("{during_ryw}");
        profile.push_str(&during_ryw);
        let when = if goal {
            format!("a steady {}", per_second(rate))
        } else {
            format!("{} = (c)/2", per_second(rate))
        };
        if goal {
            goals.push(Goal::new(
                format!("(e) p99 at most 25 ms at {when}"),
                format!(
                    "p99 {:.1} ms, {} not visible, {} failed",
                    ryw.visible.p99.as_secs_f64() * 1e3,
                    ryw.not_visible,
                    ryw.failed
                ),
                ryw.met(),
            ));
        }
        record(&mut rows, ryw.row(&when, goal));
    }

    eprintln!(
        "(f) lobby push to {members} members, {} bookings",
        scale.rounds()
    );
    let lobby_train = bookings::new_train(&http, &api_address).await?;
    let before = cpu::snapshot(&roles, &log).await?;
    let push = lobby::measure(
        &http,
        &gateway_role,
        &gateway,
        log.clone(),
        lobby_train,
        members,
        scale.rounds(),
    )
    .await?;
    let after = cpu::snapshot(&roles, &log).await?;
    let during_push = format!(
        "CPU during (f), joining and {} deliveries:\n{}",
        push.latency.count,
        cpu::breakdown(&before, &after, push.latency.count as f64, "delivery")
    );
    eprint!("{during_push}");
    profile.push_str(&during_push);
    let push_row = push.row();
    goals.push(Goal::compare(
        "(f) lobby push not worse than before (README's figures)",
        format!(
            "p99 {:.1} ms; {}",
            push_row.p99.unwrap_or_default().as_secs_f64() * 1e3,
            push_row.value
        ),
    ));
    record(&mut rows, push_row);

    eprintln!("(g) rebuild");
    let rebuilt = tokio::task::block_in_place(|| replay::rebuild(env))?;
    record(&mut rows, rebuilt.row(ceiling));

    eprintln!("(h) warehouse load");
    let warehouse = warehouse_db.pool(2).await;
    let etl_listen = [("ETL_OPS_LISTEN", format!("127.0.0.1:{etl_port}"))];
    let (loaded, etl) = replay::warehouse(env, &log, &warehouse, &etl_listen).await?;
    record(&mut rows, loaded.row(ceiling));

    let mut peaks = stop([api, projector, gateway_role, etl])?;
    peaks.extend(held.peaks);
    peaks.push(("rebuild", rebuilt.peak_kib));
    Ok((rows, peaks, goals, profile))
}

/// Reads each role's peak memory, then stops them all.
fn stop<const N: usize>(roles: [Role; N]) -> anyhow::Result<Peaks> {
    let mut peaks = Vec::new();
    for role in &roles {
        let peak = role
            .peak_kib()
            .with_context(|| format!("peak memory of {}", role.name))?;
        peaks.push((role.name, peak));
    }
    for role in roles {
        role.stop();
    }
    Ok(peaks)
}

/// Keeps a row for the table, and shows it at once: a long run should not be silent.
fn record(rows: &mut Vec<Row>, row: Row) {
    let ms = |d: Option<Duration>| {
        d.map_or(String::new(), |d| {
            format!(" {:.1} ms", d.as_secs_f64() * 1e3)
        })
    };
    eprintln!(
        "    {}: {};{}{}",
        row.figure,
        row.value,
        ms(row.p50),
        ms(row.p99)
    );
    rows.push(row);
}
