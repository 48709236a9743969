//! Picking an adapter by connection string, once, at start-up. The rest of the system holds
//! an [`AnyStore`] and cannot tell which adapter runs behind it.

use crate::{
    AppendResult, EventStore, ExpectedRevision, Filter, NewEvent, PgEventStore, Position,
    RecordedEvent, StoreError, Subscription,
};

/// Whichever adapter the connection string selected.
#[derive(Clone)]
pub enum AnyStore {
    Postgres(PgEventStore),
}

impl AnyStore {
    /// `postgres://` or `postgresql://` selects PostgreSQL.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let scheme = url
            .split_once("://")
            .map(|(scheme, _)| scheme.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("postgres" | "postgresql") => Ok(Self::Postgres(
                PgEventStore::connect(url, max_connections).await?,
            )),
            _ => Err(StoreError::Backend(
                "unsupported event store URL scheme (expected postgres:// or postgresql://)".into(),
            )),
        }
    }
}

impl From<PgEventStore> for AnyStore {
    fn from(store: PgEventStore) -> Self {
        Self::Postgres(store)
    }
}

impl EventStore for AnyStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        match self {
            Self::Postgres(store) => store.append(stream, expected, events).await,
        }
    }

    async fn read_stream(&self, stream: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        match self {
            Self::Postgres(store) => store.read_stream(stream).await,
        }
    }

    async fn read_all(
        &self,
        after: Option<Position>,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        match self {
            Self::Postgres(store) => store.read_all(after, filter, limit).await,
        }
    }

    async fn count(&self, after: Option<Position>) -> Result<Option<u64>, StoreError> {
        match self {
            Self::Postgres(store) => store.count(after).await,
        }
    }

    fn subscribe(&self, after: Option<Position>, filter: Filter) -> Subscription {
        match self {
            Self::Postgres(store) => store.subscribe(after, filter),
        }
    }
}
