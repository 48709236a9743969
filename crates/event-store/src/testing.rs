//! Test support: a throwaway PostgreSQL database per test, so no test sees another's data.

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
        // Drop runs inside the test's runtime, which cannot be blocked on; use a thread.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url()).await.ok()?;
                admin
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await
                    .ok()
            })
        });
        let _ = dropped.join();
    }
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

/// Append throughput through the adapter, in events/s: `writers` tasks, each on its own
/// stream, append one event at a time with an exact expected revision (the shape of a real
/// command) until `window` has passed. `event(n)` makes a writer's n-th event.
pub async fn append_rate<F>(
    store: &crate::PgEventStore,
    writers: usize,
    window: std::time::Duration,
    event: F,
) -> f64
where
    F: Fn(usize) -> crate::NewEvent + Clone + Send + 'static,
{
    use crate::{EventStore, ExpectedRevision};
    let run = uuid::Uuid::now_v7().simple();
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (store, event) = (store.clone(), event.clone());
            let stream = format!("bench-{run}-{w}");
            tokio::spawn(async move {
                let mut n = 0usize;
                while started.elapsed() < window {
                    let expected = match n.checked_sub(1) {
                        None => ExpectedRevision::NoStream,
                        Some(last) => ExpectedRevision::Exact(last as u64),
                    };
                    store
                        .append(&stream, expected, vec![event(n)])
                        .await
                        .expect("append");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("append task");
    }
    total as f64 / started.elapsed().as_secs_f64()
}
