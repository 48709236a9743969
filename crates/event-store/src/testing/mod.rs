//! Test support: a throwaway PostgreSQL database per test, so no test sees another's data,
//! and a TCP [`proxy`] that lets a test take a server away from the services it runs.

pub mod proxy;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection};

/// The server tests create their databases on; `TEST_DATABASE_URL` overrides it.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
}

/// A database created for one test and dropped (with its connections) when this is dropped.
pub struct TestDatabase {
    pub url: String,
    pub name: String,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let name = format!("test_{}", uuid::Uuid::now_v7().simple());
        let mut admin = PgConnection::connect(&admin_url())
            .await
            .expect("connect to the test server");
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create a test database");
        let url = with_database(&admin_url(), &name);
        Self { url, name }
    }

    /// A small pool on the test database.
    pub async fn pool(&self, max_connections: u32) -> PgPool {
        PgPoolOptions::new()
            .max_connections(max_connections)
            .connect(&self.url)
            .await
            .expect("connect to the test database")
    }

    /// Terminates every connection to this database, as a network failure would.
    pub async fn kill_connections(&self) -> u64 {
        let mut admin = PgConnection::connect(&admin_url())
            .await
            .expect("connect to the test server");
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&self.name)
        .fetch_all(&mut admin)
        .await
        .expect("terminate test connections");
        killed.into_iter().filter(|k| *k).count() as u64
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        block_on_elsewhere(async move {
            let mut admin = PgConnection::connect(&admin_url()).await.ok()?;
            admin
                .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                .await
                .ok()
        });
    }
}

/// Runs `cleanup` to the end from a `Drop`, which runs inside the test's runtime and so cannot
/// block on it there: on a thread with a runtime of its own. `None` if that runtime could not
/// start.
pub fn block_on_elsewhere<F>(cleanup: F) -> Option<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let finished = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        Some(runtime.block_on(cleanup))
    });
    finished.join().ok().flatten()
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let root = base.rsplit_once('/').map_or(base, |(root, _)| root);
    match query {
        Some(query) => format!("{root}/{database}?{query}"),
        None => format!("{root}/{database}"),
    }
}
