//! `booking`: one binary for every role. `all` runs the whole stack in one process; each role
//! can also run alone, so one image serves every container.

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod healthcheck;
mod migrate;
mod quarantine;
mod serve;
mod settings;
#[cfg(test)]
mod settings_files;

use serve::{Runners, cancel_on_signal, serve_api, serve_gateway, serve_ops, serve_simulator};
use settings::{
    Common, Logging, Migrate, Simulator, StatementTimeout, Warehouse, init_tracing, warehouse_pool,
};

#[derive(Parser)]
#[command(
    name = "booking",
    version,
    about = "Event-sourced train booking backend"
)]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand)]
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once at start-up; boxing the settings would only obscure them"
)]
enum Role {
    /// Run every role in one process: command API, projector, lobby gateway, the payment
    /// simulator (with PAYMENT_WEBHOOK_SECRET set), and (unless --warehouse false) the
    /// warehouse feed and the etl.
    All {
        #[command(flatten)]
        simulator: Simulator,
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        migrate: Migrate,
        #[command(flatten)]
        api: command_api::Settings,
        #[command(flatten)]
        projector: projector::Settings,
        #[command(flatten)]
        warehouse: Warehouse,
        #[command(flatten)]
        amqp: projector::feed::Amqp,
        #[command(flatten)]
        feed: projector::feed::Settings,
        #[command(flatten)]
        etl: etl::Settings,
        #[command(flatten)]
        gateway: lobby_gateway::Settings,
    },
    /// Serve the train and booking API.
    CommandApi {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        migrate: Migrate,
        #[command(flatten)]
        api: command_api::Settings,
    },
    /// Serve the simulated payment provider (PAYMENT_PROVIDER=simulated): it answers payment
    /// and refund requests at once with "pending" and tells the outcome to PAYMENT_WEBHOOK_URL.
    PaymentSimulator {
        #[command(flatten)]
        logging: Logging,
        #[command(flatten)]
        simulator: Simulator,
        /// Secret the webhooks are signed with; the command API's PAYMENT_WEBHOOK_SECRET.
        #[arg(
            long = "payment-webhook-secret",
            env = "PAYMENT_WEBHOOK_SECRET",
            default_value = "",
            hide_env_values = true,
            hide_default_value = true
        )]
        secret: String,
    },
    /// Serve the lobby service and the gateway in front of the command API.
    LobbyGateway {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        migrate: Migrate,
        #[command(flatten)]
        gateway: lobby_gateway::Settings,
    },
    /// Build the read models from the event log and publish the warehouse feed (one active
    /// instance per projection and feed; others stand by).
    Projector {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        migrate: Migrate,
        #[command(flatten)]
        projector: projector::Settings,
        #[command(flatten)]
        warehouse: Warehouse,
        #[command(flatten)]
        amqp: projector::feed::Amqp,
        #[command(flatten)]
        feed: projector::feed::Settings,
        /// Address of the projector's health and metrics endpoints.
        #[arg(
            long = "ops-listen",
            env = "OPS_LISTEN",
            default_value = "127.0.0.1:9090"
        )]
        ops_listen: std::net::SocketAddr,
    },
    /// Load the warehouse feed from RabbitMQ into the warehouse database.
    Etl {
        #[command(flatten)]
        logging: Logging,
        #[command(flatten)]
        amqp: projector::feed::Amqp,
        #[command(flatten)]
        etl: etl::Settings,
        #[command(flatten)]
        statement_timeout: StatementTimeout,
        #[command(flatten)]
        migrate: Migrate,
        /// Address of the etl's health and metrics endpoints.
        #[arg(
            long = "etl-ops-listen",
            env = "ETL_OPS_LISTEN",
            default_value = "127.0.0.1:9091"
        )]
        ops_listen: std::net::SocketAddr,
    },
    /// Build the warehouse straight from the event log (no RabbitMQ), showing progress, then exit.
    Backfill {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        etl: etl::Settings,
        /// Events read from the log per page.
        #[arg(
            long = "backfill-page-size",
            env = "BACKFILL_PAGE_SIZE",
            default_value_t = 5000
        )]
        page_size: usize,
    },
    /// Print the analyst views as tables (and write them as CSV with --csv), then exit.
    Report {
        #[command(flatten)]
        logging: Logging,
        #[command(flatten)]
        etl: etl::Settings,
        /// First day (inclusive) of the per-day and top-route tables, e.g. 2024-09-01.
        #[arg(long, default_value = "2000-01-01")]
        from: chrono::NaiveDate,
        /// Last day (inclusive) of the per-day and top-route tables.
        #[arg(long, default_value = "2099-12-31")]
        to: chrono::NaiveDate,
        /// How many routes the top-routes table lists.
        #[arg(long, default_value_t = 10)]
        top: i32,
        /// Also write each table as <DIR>/<view>.csv.
        #[arg(long, value_name = "DIR")]
        csv: Option<std::path::PathBuf>,
    },
    /// Rebuild read models by replaying the log into fresh copies, then swap them in while the
    /// live ones keep serving. Interrupt it and run it again to continue.
    Rebuild {
        #[command(flatten)]
        common: Common,
        /// Projection to rebuild (trains, bookings, lobbies, users); repeat for several; all if none.
        #[arg(long = "projection", value_parser = parse_projection)]
        projections: Vec<projector::Projection>,
        /// Start from zero even if an interrupted rebuild left progress behind.
        #[arg(long)]
        fresh: bool,
    },
    /// Re-fold the log into a scratch copy and diff it against the live read models; exits
    /// with status 1 and prints the rows if anything differs.
    Verify {
        #[command(flatten)]
        common: Common,
        /// Projection to verify; repeat for several; all if none.
        #[arg(long = "projection", value_parser = parse_projection)]
        projections: Vec<projector::Projection>,
    },
    /// List the events that projections, reactors, the warehouse feed or the etl set aside
    /// because they could not decode or apply them, or apply them again after a fix.
    Quarantine {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        etl: etl::Settings,
        #[command(flatten)]
        amqp: projector::feed::Amqp,
        #[command(subcommand)]
        action: quarantine::Action,
    },
    /// Manage accounts from a shell: the password is read from standard input.
    Users {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        api: command_api::Settings,
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Add a new signing key for access tokens; the previous one keeps verifying the tokens
    /// it signed until they expire, so nobody is signed out.
    RotateKeys {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        api: command_api::Settings,
    },
    /// Create or upgrade every schema (event store, read models, accounts and, unless
    /// --warehouse false, the warehouse), then exit. Run it as the owner of the databases,
    /// before services that start with MIGRATE=skip.
    Migrate {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        warehouse: Warehouse,
        #[command(flatten)]
        etl: etl::Settings,
        /// After migrating, grant each service's database role what it needs and nothing
        /// more (deploy/grants/*.sql: booking_command_api, booking_projector,
        /// booking_lobby_gateway, booking_etl, booking_analyst, which must exist).
        #[arg(long = "grants", env = "MIGRATE_GRANTS", default_value_t = false, action = clap::ArgAction::Set)]
        grants: bool,
    },
    /// Exit 0 if URL answers 2xx, 1 otherwise: the probe of container healthchecks, e.g.
    /// `booking healthcheck http://127.0.0.1:8081/health/ready`.
    Healthcheck {
        /// Health endpoint to ask.
        url: String,
        /// Longest wait for the answer, in milliseconds.
        #[arg(long, default_value_t = 3000)]
        timeout_ms: u64,
    },
}

#[derive(Subcommand)]
enum UsersAction {
    /// Create an admin account for EMAIL unless an account holds it already.
    CreateAdmin {
        #[arg(long)]
        email: String,
        /// 3 to 50 characters.
        #[arg(long, default_value = "admin")]
        username: String,
    },
    /// Set a new password for the account of EMAIL and end all its logins.
    ResetPassword {
        #[arg(long)]
        email: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // A missing .env is normal; settings then come from flags and the environment.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    http_kit::metrics::prometheus();
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let tracker = TaskTracker::new();

    match cli.role {
        Role::All {
            simulator,
            common,
            migrate,
            mut api,
            projector,
            warehouse,
            amqp,
            feed,
            etl,
            mut gateway,
        } => {
            let (store, pool) = common.start_with(migrate).await?;
            (api.migrate, gateway.migrate) = (migrate.runs(), migrate.runs());
            if warehouse.enabled {
                let warehouse_pool =
                    warehouse_pool(&etl, 4, common.statement_timeout, migrate).await?;
                tracker.spawn(projector::feed::run(
                    store.clone(),
                    pool.clone(),
                    amqp.clone(),
                    feed,
                    shutdown.clone(),
                ));
                tracker.spawn(etl::run(amqp, warehouse_pool, etl, shutdown.clone()));
            }
            tracker.spawn(projector::run(
                store.clone(),
                pool.clone(),
                projector,
                shutdown.clone(),
            ));
            if !api.payment_webhook_secret.is_empty() {
                let secret = api.payment_webhook_secret.clone();
                serve_simulator(simulator, &secret, &tracker, shutdown.clone()).await?;
            }
            serve_api(api, store.clone(), pool.clone(), &tracker, shutdown.clone()).await?;
            serve_gateway(gateway, store, pool, &tracker, shutdown.clone()).await?;
        }
        Role::PaymentSimulator {
            logging,
            simulator,
            secret,
        } => {
            init_tracing(logging.log_format);
            anyhow::ensure!(!secret.is_empty(), "PAYMENT_WEBHOOK_SECRET is empty");
            serve_simulator(simulator, &secret, &tracker, shutdown.clone()).await?;
        }
        Role::LobbyGateway {
            common,
            migrate,
            mut gateway,
        } => {
            let (store, pool) = common.start_with(migrate).await?;
            gateway.migrate = migrate.runs();
            serve_gateway(gateway, store, pool, &tracker, shutdown.clone()).await?;
        }
        Role::CommandApi {
            common,
            migrate,
            mut api,
        } => {
            let (store, pool) = common.start_with(migrate).await?;
            api.migrate = migrate.runs();
            serve_api(api, store, pool, &tracker, shutdown.clone()).await?;
        }
        Role::Projector {
            common,
            migrate,
            projector,
            warehouse,
            amqp,
            feed,
            ops_listen,
        } => {
            let (store, pool) = common.start_with(migrate).await?;
            let mut runners: Vec<String> = projector::Projection::ALL
                .iter()
                .map(|p| p.name().to_owned())
                .collect();
            runners.push(projector::feed::FEED_NAME.to_owned());
            let runners = Runners {
                table: event_store::quarantine::READ_MODELS,
                names: runners,
            };
            serve_ops(
                ops_listen,
                "Projector",
                pool.clone(),
                runners,
                &tracker,
                shutdown.clone(),
            )
            .await?;
            if warehouse.enabled {
                tracker.spawn(projector::feed::run(
                    store.clone(),
                    pool.clone(),
                    amqp,
                    feed,
                    shutdown.clone(),
                ));
            }
            tracker.spawn(projector::run(store, pool, projector, shutdown.clone()));
        }
        Role::Etl {
            logging,
            amqp,
            etl,
            statement_timeout,
            migrate,
            ops_listen,
        } => {
            init_tracing(logging.log_format);
            let pool = warehouse_pool(&etl, 4, statement_timeout, migrate).await?;
            let runners = Runners {
                table: event_store::quarantine::WAREHOUSE,
                names: vec![etl::ETL_RUNNER.to_owned()],
            };
            serve_ops(
                ops_listen,
                "Etl",
                pool.clone(),
                runners,
                &tracker,
                shutdown.clone(),
            )
            .await?;
            tracker.spawn(etl::run(amqp, pool, etl, shutdown.clone()));
        }
        Role::Backfill {
            common,
            etl,
            page_size,
        } => {
            let common = common.for_operator();
            common.init_tracing();
            let store = common.store().await?;
            let pool = warehouse_pool(&etl, 4, common.statement_timeout, Migrate::AUTO).await?;
            // The summary line comes from the progress display.
            etl::backfill(&store, &pool, page_size, true)
                .await
                .context("backfilling the warehouse")?;
            return Ok(());
        }
        Role::Report {
            logging,
            etl,
            from,
            to,
            top,
            csv,
        } => {
            init_tracing(logging.log_format);
            // Analysts may run it as their read-only role: it never migrates.
            let pool = warehouse_pool(&etl, 2, StatementTimeout::NONE, Migrate::SKIP).await?;
            let tables = etl::report(&pool, etl::Period { from, to, top })
                .await
                .context("querying the warehouse views")?;
            if let Some(dir) = &csv {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            for table in &tables {
                println!("{}", table.render());
                if let Some(dir) = &csv {
                    let path = dir.join(format!("{}.csv", table.name));
                    std::fs::write(&path, table.to_csv())
                        .with_context(|| format!("writing {}", path.display()))?;
                }
            }
            return Ok(());
        }
        Role::Rebuild {
            common,
            projections,
            fresh,
        } => {
            let (store, pool) = common.for_operator().start().await?;
            let projections = or_all(projections);
            let report = projector::rebuild(&store, &pool, &projections, fresh, &shutdown).await?;
            match report {
                Some(report) => {
                    let rate = report.events as f64 / report.elapsed.as_secs_f64().max(1e-9);
                    let swaps: Vec<String> = report
                        .swaps
                        .iter()
                        .map(|(p, blocked)| {
                            format!("{} {:.1} ms", p.name(), blocked.as_secs_f64() * 1e3)
                        })
                        .collect();
                    println!(
                        "rebuilt {} events in {:.2} s ({rate:.0} events/s); swaps locked queries for: {}",
                        report.events,
                        report.elapsed.as_secs_f64(),
                        swaps.join(", ")
                    );
                }
                None => println!("rebuild interrupted; run it again to continue"),
            }
            return Ok(());
        }
        Role::Verify {
            common,
            projections,
        } => {
            let (store, pool) = common.for_operator().start().await?;
            let verification = projector::verify(&store, &pool, &or_all(projections)).await?;
            for d in &verification.differences {
                println!(
                    "{} {}: live {} | from the log {}",
                    d.table,
                    d.key,
                    d.live.as_deref().unwrap_or("(missing)"),
                    d.rebuilt.as_deref().unwrap_or("(missing)")
                );
            }
            quarantine::print_entries(&verification.quarantined);
            let (differences, quarantined) = (
                verification.differences.len(),
                verification.quarantined.len(),
            );
            if differences == 0 && quarantined == 0 {
                println!("read models match the log");
                return Ok(());
            }
            println!(
                "{differences} rows differ; {quarantined} events quarantined (see `booking quarantine`)"
            );
            std::process::exit(1);
        }
        Role::Quarantine {
            common,
            etl,
            amqp,
            action,
        } => return quarantine::run(common, etl, amqp, action).await,
        Role::Users {
            common,
            api,
            action,
        } => {
            let (store, pool) = common.start().await?;
            let state = command_api::AppState::new(
                api,
                store,
                pool,
                projector::followers(),
                shutdown.clone(),
            )
            .await?;
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            let done = match action {
                UsersAction::CreateAdmin { email, username } => {
                    match state.create_admin(&username, &email, password).await? {
                        Some(user_id) => println!("created admin account {user_id}"),
                        None => println!("an account already holds this email; nothing changed"),
                    }
                    true
                }
                UsersAction::ResetPassword { email } => {
                    let reset = state.reset_password(&email, password).await?;
                    if reset {
                        println!("password set; every login of the account has ended");
                    } else {
                        println!("no account holds this email");
                    }
                    reset
                }
            };
            shutdown.cancel();
            if !done {
                std::process::exit(1);
            }
            return Ok(());
        }
        Role::RotateKeys { common, api } => {
            let (_store, pool) = common.start().await?;
            let secret = auth::AuthSecret::new(api.auth_secret.as_bytes())
                .context("AUTH_SECRET is needed to rotate the signing keys")?;
            auth::migrate(&pool).await?;
            let settings = auth::KeyRingSettings {
                token_lifetime: std::time::Duration::from_secs(api.access_token_ttl_secs),
                ..auth::KeyRingSettings::default()
            };
            let ring = auth::KeyRing::load(pool, &secret, settings).await?;
            let kid = ring.rotate().await?;
            println!(
                "signing with key {kid}; the previous key verifies its tokens until they expire"
            );
            return Ok(());
        }
        Role::Migrate {
            common,
            warehouse,
            etl,
            grants,
        } => {
            let common = common.for_operator();
            common.init_tracing();
            let warehouse = warehouse.enabled.then_some(&etl);
            migrate::run(&common, warehouse, grants).await?;
            return Ok(());
        }
        Role::Healthcheck { url, timeout_ms } => {
            return healthcheck::probe(&url, std::time::Duration::from_millis(timeout_ms)).await;
        }
    }
    tracker.close();
    tracker.wait().await;
    tracing::info!("stopped");
    Ok(())
}

fn parse_projection(name: &str) -> Result<projector::Projection, String> {
    projector::Projection::named(name)
        .ok_or_else(|| format!("unknown projection {name:?} (trains, bookings, lobbies, users)"))
}

fn or_all(projections: Vec<projector::Projection>) -> Vec<projector::Projection> {
    if projections.is_empty() {
        projector::Projection::ALL.to_vec()
    } else {
        projections
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Roles flatten several settings structs: an id or flag used twice would only fail when
    /// that subcommand starts.
    #[test]
    fn every_role_has_a_consistent_command_line() {
        Cli::command().debug_assert();
    }
}
