//! Picking an adapter by connection string, once, at start-up. The rest of the system holds
//! an [`AnyStore`] and cannot tell which adapter runs behind it.

use crate::postgres::classify;
use crate::{
    AppendResult, EventStore, ExpectedRevision, Filter, KurrentStore, NewEvent, PgEventStore,
    Position, RecordedEvent, StoreError, Subscription,
};
use sqlx::postgres::PgConnectOptions;
use std::time::Duration;

/// Whether connecting brings the PostgreSQL adapter's schema up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrations {
    /// Run the schema's pending migrations (which needs the rights to create and alter it).
    Run,
    /// Expect them run already (`booking migrate`, as the schema's owner).
    Skip,
}

/// Whichever adapter the connection string selected.
#[derive(Clone)]
pub enum AnyStore {
    Postgres(PgEventStore),
    Kurrent(KurrentStore),
}

/// Runs the same call on whichever adapter is behind `$store`.
macro_rules! dispatch {
    ($store:expr, $inner:ident => $call:expr) => {
        match $store {
            AnyStore::Postgres($inner) => $call,
            AnyStore::Kurrent($inner) => $call,
        }
    };
}

impl AnyStore {
    /// `postgres://` or `postgresql://` selects PostgreSQL; `esdb://`, `kurrentdb://` and
    /// their `+discover` (cluster gossip) forms select EventStoreDB/KurrentDB.
    /// `max_connections` sizes the PostgreSQL pool; the gRPC client multiplexes one
    /// connection.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        Self::connect_bounded(url, max_connections, None, Migrations::Run).await
    }

    /// As [`connect`](Self::connect), with PostgreSQL's `statement_timeout` set on every
    /// connection of the pool, so no statement holds a connection and its locks for longer.
    /// `None` keeps the server's default. KurrentDB has no such setting: its calls are bounded
    /// by the client's own deadlines. With [`Migrations::Skip`] the PostgreSQL adapter leaves
    /// its schema as it finds it, so a role without DDL rights can connect.
    pub async fn connect_bounded(
        url: &str,
        max_connections: u32,
        statement_timeout: Option<Duration>,
        migrations: Migrations,
    ) -> Result<Self, StoreError> {
        let scheme = url
            .split_once("://")
            .map(|(scheme, _)| scheme.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("postgres" | "postgresql") => {
                let mut options: PgConnectOptions = url.parse().map_err(classify)?;
                if let Some(timeout) = statement_timeout {
                    let millis = timeout.as_millis().to_string();
                    options = options.options([("statement_timeout", millis)]);
                }
                let store = match migrations {
                    Migrations::Run => PgEventStore::connect_with(options, max_connections).await?,
                    Migrations::Skip => {
                        PgEventStore::connect_unmigrated(options, max_connections).await?
                    }
                };
                Ok(Self::Postgres(store))
            }
            Some("esdb" | "esdb+discover" | "kurrentdb" | "kurrentdb+discover") => {
                Ok(Self::Kurrent(KurrentStore::connect(url).await?))
            }
            _ => Err(StoreError::Backend(
                "unsupported event store URL scheme (expected postgres://, postgresql://, \
                 esdb://, esdb+discover://, kurrentdb:// or kurrentdb+discover://)"
                    .into(),
            )),
        }
    }
}

impl From<PgEventStore> for AnyStore {
    fn from(store: PgEventStore) -> Self {
        Self::Postgres(store)
    }
}

impl From<KurrentStore> for AnyStore {
    fn from(store: KurrentStore) -> Self {
        Self::Kurrent(store)
    }
}

impl EventStore for AnyStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        dispatch!(self, store => store.append(stream, expected, events).await)
    }

    async fn read_stream(&self, stream: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        dispatch!(self, store => store.read_stream(stream).await)
    }

    async fn read_stream_after(
        &self,
        stream: &str,
        after: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        dispatch!(self, store => store.read_stream_after(stream, after).await)
    }

    async fn read_all(
        &self,
        after: Option<Position>,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        dispatch!(self, store => store.read_all(after, filter, limit).await)
    }

    async fn count(&self, after: Option<Position>) -> Result<Option<u64>, StoreError> {
        dispatch!(self, store => store.count(after).await)
    }

    fn subscribe(&self, after: Option<Position>, filter: Filter) -> Subscription {
        dispatch!(self, store => store.subscribe(after, filter))
    }
}
