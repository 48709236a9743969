//! Test support: a throwaway PostgreSQL database per test, so no test sees another's data,
//! a stream-name scope for tests that must share one server, and a TCP [`proxy`] that lets a
//! test take a server away from the services it runs.

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

/// A store seen through a stream-name prefix, for suites that share one server (a real
/// EventStoreDB cannot hand each test a fresh database): writes go to `prefix + stream`, and
/// reads of the global log see only this prefix, with the prefix taken off again.
#[derive(Clone)]
pub struct Scoped<S> {
    inner: S,
    prefix: String,
}

impl<S: crate::EventStore> Scoped<S> {
    /// `inner` under a prefix unique to this call.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            prefix: format!("t{}-", uuid::Uuid::now_v7().simple()),
        }
    }

    fn filter(&self, filter: &crate::Filter) -> crate::Filter {
        match filter.stream_prefixes() {
            [] => crate::Filter::prefixes([self.prefix.clone()]),
            prefixes => {
                crate::Filter::prefixes(prefixes.iter().map(|p| format!("{}{p}", self.prefix)))
            }
        }
    }

    fn unscope(prefix: &str, mut event: crate::RecordedEvent) -> crate::RecordedEvent {
        if let Some(stream) = event.stream.strip_prefix(prefix) {
            event.stream = stream.to_owned();
        }
        event
    }
}

impl<S: crate::EventStore> crate::EventStore for Scoped<S> {
    async fn append(
        &self,
        stream: &str,
        expected: crate::ExpectedRevision,
        events: Vec<crate::NewEvent>,
    ) -> Result<crate::AppendResult, crate::StoreError> {
        let stream = format!("{}{stream}", self.prefix);
        self.inner.append(&stream, expected, events).await
    }

    async fn read_stream(
        &self,
        stream: &str,
    ) -> Result<Vec<crate::RecordedEvent>, crate::StoreError> {
        let events = self
            .inner
            .read_stream(&format!("{}{stream}", self.prefix))
            .await?;
        Ok(events
            .into_iter()
            .map(|e| Self::unscope(&self.prefix, e))
            .collect())
    }

    async fn read_stream_after(
        &self,
        stream: &str,
        after: u64,
    ) -> Result<Vec<crate::RecordedEvent>, crate::StoreError> {
        let events = self
            .inner
            .read_stream_after(&format!("{}{stream}", self.prefix), after)
            .await?;
        Ok(events
            .into_iter()
            .map(|e| Self::unscope(&self.prefix, e))
            .collect())
    }

    async fn read_all(
        &self,
        after: Option<crate::Position>,
        filter: &crate::Filter,
        limit: usize,
    ) -> Result<Vec<crate::RecordedEvent>, crate::StoreError> {
        let events = self
            .inner
            .read_all(after, &self.filter(filter), limit)
            .await?;
        Ok(events
            .into_iter()
            .map(|e| Self::unscope(&self.prefix, e))
            .collect())
    }

    async fn count(
        &self,
        _after: Option<crate::Position>,
    ) -> Result<Option<u64>, crate::StoreError> {
        // The inner count covers every prefix; it would be wrong here.
        Ok(None)
    }

    fn subscribe(
        &self,
        after: Option<crate::Position>,
        filter: crate::Filter,
    ) -> crate::Subscription {
        let mut inner = self.inner.subscribe(after, self.filter(&filter));
        let (tx, rx) = tokio::sync::mpsc::channel(crate::Subscription::BUFFER);
        let stop = tokio_util::sync::CancellationToken::new();
        let prefix = self.prefix.clone();
        let task_stop = stop.clone();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    () = task_stop.cancelled() => return,
                    next = inner.next() => next,
                };
                let Some(item) = next else { return };
                let item = item.map(|e| Self::unscope(&prefix, e));
                if tx.send(item).await.is_err() {
                    return;
                }
            }
        });
        crate::Subscription::new(rx, stop)
    }
}

/// Append throughput through an adapter: `writers` tasks, each on its own stream, append one
/// event at a time with an exact expected revision (the shape of a real command) until
/// `window` has passed. `event(n)` makes a writer's n-th event. Events per second, and how
/// many were written.
pub async fn append_rate<S, F>(
    store: &S,
    writers: usize,
    window: std::time::Duration,
    event: F,
) -> (f64, usize)
where
    S: crate::EventStore,
    F: Fn(usize) -> crate::NewEvent + Clone + Send + 'static,
{
    use crate::ExpectedRevision;
    let run = uuid::Uuid::now_v7().simple();
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (store, event) = (store.clone(), event.clone());
            let stream = format!("bench-{run}-{w}");
            tokio::spawn(async move {
                let mut n = 0usize;
                while started.elapsed() < window {
                    let expected =
                        ExpectedRevision::after(n.checked_sub(1).map(|last| last as u64));
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
    (total as f64 / started.elapsed().as_secs_f64(), total)
}
