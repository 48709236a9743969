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

/// Health and metrics for a role without an HTTP API of its own.
pub(crate) async fn serve_ops(
    listen: std::net::SocketAddr,
    name: &'static str,
    pool: sqlx::PgPool,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    use axum::routing::get;
    use axum::{Json, http::StatusCode};
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let ok = || Json(serde_json::json!({ "status": "OK" }));
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
                match sqlx::query("SELECT 1").execute(&pool).await {
                    Ok(_) => (StatusCode::OK, ok()),
                    Err(_) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        Json(serde_json::json!({ "status": "UNAVAILABLE" })),
                    ),
                }
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
