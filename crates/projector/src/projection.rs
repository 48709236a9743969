//! What a read model is to the runner, rebuild and verify: a name, the streams it reads, the
//! tables it owns, and how it applies a batch. The registry [`Projection::ALL`] lists every
//! read model, one line each; adding one is a module with its `PROJECTION` and a line there.

use domain::DomainEvent;
use event_store::Filter;
use event_store::checkpoint::Follower;
use sqlx::PgConnection;
use std::future::Future;
use std::pin::Pin;

/// How a read model applies a batch to its tables in `schema` (the live `read_models`, or a
/// copy being rebuilt or verified). `fresh`: a replay filling empty tables, each event
/// applied exactly once, which allows bulk loading.
pub(crate) type Apply =
    for<'a> fn(
        &'a mut PgConnection,
        &'a str,
        &'a [&'a DomainEvent],
        bool,
    ) -> Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + 'a>>;

/// One read model and how it follows the log.
#[derive(Clone, Copy)]
pub struct Projection {
    name: &'static str,
    streams: &'static [&'static str],
    tables: &'static [&'static str],
    apply: Apply,
}

impl Projection {
    /// Every read model.
    pub const ALL: [Projection; 7] = [
        crate::trains::PROJECTION,
        crate::bookings::PROJECTION,
        crate::lobbies::PROJECTION,
        crate::users::PROJECTION,
        crate::holds::PROJECTION,
        crate::search::PROJECTION,
        crate::orders::PROJECTION,
    ];

    /// A read model named `name` (its checkpoint's name too) that reads the streams starting
    /// with one of `streams` and owns `tables`, all in one schema.
    pub(crate) const fn new(
        name: &'static str,
        streams: &'static [&'static str],
        tables: &'static [&'static str],
        apply: Apply,
    ) -> Self {
        Self {
            name,
            streams,
            tables,
            apply,
        }
    }

    pub fn name(self) -> &'static str {
        self.name
    }

    /// The streams this projection reads.
    pub fn filter(self) -> Filter {
        Filter::prefixes(self.streams.iter().copied())
    }

    /// The streams any of `projections` reads: one reader's filter for them all.
    pub fn union(projections: impl IntoIterator<Item = Projection>) -> Filter {
        let mut prefixes = Vec::new();
        for projection in projections {
            if projection.streams.is_empty() {
                return Filter::all();
            }
            prefixes.extend(projection.streams.iter().map(|s| (*s).to_owned()));
        }
        prefixes.sort();
        prefixes.dedup();
        Filter::prefixes(prefixes)
    }

    /// The tables this projection owns, all in one schema.
    pub fn tables(self) -> &'static [&'static str] {
        self.tables
    }

    /// Parses a projection's name.
    pub fn named(name: &str) -> Option<Projection> {
        Self::ALL.into_iter().find(|p| p.name == name)
    }

    pub(crate) async fn apply(
        self,
        tx: &mut PgConnection,
        schema: &str,
        events: &[&DomainEvent],
        fresh: bool,
    ) -> Result<(), sqlx::Error> {
        (self.apply)(tx, schema, events, fresh).await
    }
}

/// Every read model as read your writes waits for it.
pub fn followers() -> Vec<Follower> {
    Projection::ALL
        .into_iter()
        .map(|p| Follower::new(p.name, p.filter()))
        .collect()
}

// Identity is the name: the registry holds each read model once.
impl PartialEq for Projection {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Projection {}

impl PartialOrd for Projection {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Projection {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name.cmp(other.name)
    }
}

impl std::hash::Hash for Projection {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl std::fmt::Debug for Projection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}
