//! Starting the roles' servers, and shutting down on a signal.

use anyhow::Context;
use event_store::AnyStore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub(crate) async fn serve_api(
    settings: command_api::Settings,
    store: AnyStore,
    pool: sqlx::PgPool,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let listener = bind(settings.listen, "command API").await?;
    let read_models = projector::followers();
    let state =
        command_api::AppState::new(settings, store, pool, read_models, shutdown.clone()).await?;
    spawn_server(
        tracker,
        "command API",
        command_api::run(listener, state, shutdown),
    );
    Ok(())
}

pub(crate) async fn serve_gateway(
    settings: lobby_gateway::Settings,
    store: AnyStore,
    pool: sqlx::PgPool,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let listener = bind(settings.listen, "lobby gateway").await?;
    let read_models = projector::followers();
    let state =
        lobby_gateway::AppState::new(settings, store, pool, read_models, shutdown.clone()).await?;
    spawn_server(
        tracker,
        "lobby gateway",
        lobby_gateway::run(listener, state, shutdown),
    );
    Ok(())
}

/// Serves the simulated payment provider, which signs its webhooks with `secret`.
pub(crate) async fn serve_simulator(
    settings: crate::settings::Simulator,
    secret: &str,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let listener = bind(settings.simulator_listen, "payment simulator").await?;
    let settings = payments::simulator::Settings {
        webhook_url: settings.simulator_webhook_url,
        secret: payments::webhook::WebhookSecret::from(secret.to_owned()),
    };
    spawn_server(
        tracker,
        "payment simulator",
        payments::simulator::serve(listener, settings, shutdown),
    );
    Ok(())
}

pub(crate) async fn bind(
    address: std::net::SocketAddr,
    what: &str,
) -> anyhow::Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address}"))?;
    tracing::info!(%address, "{what} listening");
    Ok(listener)
}

pub(crate) fn spawn_server(
    tracker: &TaskTracker,
    what: &'static str,
    server: impl std::future::Future<Output = std::io::Result<()>> + Send + 'static,
) {
    tracker.spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "{what} stopped");
        }
    });
}

/// The followers of the log a role runs, by the quarantine table that holds their events:
/// what its readiness reports on.
pub(crate) struct Runners {
    pub table: &'static str,
    pub names: Vec<String>,
}

/// Health and metrics for a role without an HTTP API of its own. Ready when its database
/// answers; degraded (still 200) while one of its runners holds quarantined events.
pub(crate) async fn serve_ops(
    listen: std::net::SocketAddr,
    name: &'static str,
    pool: sqlx::PgPool,
    runners: Runners,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    use axum::Json;
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let ok = || Json(serde_json::json!({ "status": "OK" }));
    let runners = std::sync::Arc::new(runners);
    let router = axum::Router::new()
        .route(
            "/status",
            get(move || async move {
                Json(serde_json::json!({ "status": "OK", "message": format!("{name} is running") }))
            }),
        )
        .route("/health/live", get(move || async move { ok() }))
        .route(
            "/health/ready",
            get(move || async move {
                http_kit::routes::runners_ready(&pool, runners.table, &runners.names).await
            }),
        )
        .route("/metrics", get(http_kit::metrics::render));
    tracing::info!(address = %listen, "health and metrics listening");
    tracker.spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "ops server stopped");
        }
    });
    Ok(())
}

/// Cancels `shutdown` on SIGINT or SIGTERM.
pub(crate) async fn cancel_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
    shutdown.cancel();
}
