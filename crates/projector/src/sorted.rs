//! Applying a projection's share of a batch without letting one bad event stop it: events
//! that cannot be decoded or applied go to the projection's quarantine, later events of their
//! streams queue behind them, and the rest is applied. The live runner, rebuild and verify all
//! apply through here, so a replay sets aside exactly what the live model did.

use crate::{LIVE_SCHEMA, Projection, ProjectorError};
use domain::DomainEvent;
use event_store::quarantine::{
    self, Failure, Quarantine, Reapply, Retried, RetryError, Sorting, poison_kind,
};
use event_store::{EventStore, RecordedEvent};
use sqlx::{PgConnection, PgPool};

/// An event as read, decoded or with the kind of why it cannot be.
pub(crate) type Decoded = Result<DomainEvent, &'static str>;

/// Decodes through the domain's codec, keeping only the kind of a failure: its text may echo
/// the event's data.
pub(crate) fn decode(event: &RecordedEvent) -> Decoded {
    domain::decode(&event.event_type, &event.metadata, event.data.clone()).map_err(|e| e.kind())
}

/// Why a batch did not apply.
#[derive(Debug)]
pub(crate) enum Unapplied {
    /// An event of the batch fails because of its data: roll back and apply the batch again
    /// with [`apply_each`].
    Poisoned,
    Failed(ProjectorError),
}

impl From<sqlx::Error> for Unapplied {
    fn from(error: sqlx::Error) -> Self {
        Self::Failed(error.into())
    }
}

impl From<event_store::checkpoint::CheckpointError> for Unapplied {
    fn from(error: event_store::checkpoint::CheckpointError) -> Self {
        Self::Failed(error.into())
    }
}

/// Like [`decode`], taking the data out of the event instead of copying it.
pub(crate) fn decode_owned(mut event: RecordedEvent) -> (RecordedEvent, Decoded) {
    let data = std::mem::take(&mut event.data);
    let decoded = domain::decode(&event.event_type, &event.metadata, data).map_err(|e| e.kind());
    (event, decoded)
}

/// Applies `events` (the projection's own, in log order) in `tx`, after setting aside in
/// `sorting` those that cannot be decoded or whose stream is blocked; returns how many were
/// applied. At once, unless `careful`: then one at a time (see [`apply_each`]). At once, an
/// event that fails because of its data fails the batch with [`Unapplied::Poisoned`]: the
/// caller rolls back and applies the batch again, carefully.
pub(crate) async fn apply(
    projection: Projection,
    tx: &mut PgConnection,
    schema: &str,
    events: &[(&RecordedEvent, &Decoded)],
    sorting: &mut Sorting,
    fresh: bool,
    careful: bool,
) -> Result<usize, Unapplied> {
    if careful {
        return Ok(apply_each(projection, tx, schema, events, sorting, fresh).await?);
    }
    let batch: Vec<&DomainEvent> = events
        .iter()
        .filter_map(|&(recorded, decoded)| admit(sorting, recorded, decoded))
        .collect();
    match projection.apply(tx, schema, &batch, fresh).await {
        Ok(()) => Ok(batch.len()),
        Err(e) if poison_kind(&e).is_some() => Err(Unapplied::Poisoned),
        Err(e) => Err(e.into()),
    }
}

/// The event to apply, unless its stream is blocked (it queues behind) or it cannot be
/// decoded (it is set aside).
fn admit<'a>(
    sorting: &mut Sorting,
    recorded: &RecordedEvent,
    decoded: &'a Decoded,
) -> Option<&'a DomainEvent> {
    if sorting.queue_if_blocked(recorded) {
        return None;
    }
    match decoded {
        Ok(event) => Some(event),
        Err(kind) => {
            sorting.hold(recorded, *kind);
            None
        }
    }
}

/// Like [`apply`], one event at a time, each behind a savepoint: an event that fails because
/// of its data is set aside too, and the rest goes on.
pub(crate) async fn apply_each(
    projection: Projection,
    tx: &mut PgConnection,
    schema: &str,
    events: &[(&RecordedEvent, &Decoded)],
    sorting: &mut Sorting,
    fresh: bool,
) -> Result<usize, sqlx::Error> {
    let mut applied = 0;
    for &(recorded, decoded) in events {
        let Some(event) = admit(sorting, recorded, decoded) else {
            continue;
        };
        quarantine::savepoint(tx).await?;
        let outcome = projection.apply(tx, schema, &[event], fresh).await;
        match quarantine::settle(tx, outcome).await? {
            None => applied += 1,
            Some(kind) => sorting.hold(recorded, kind),
        }
    }
    Ok(applied)
}

/// Applies a projection's quarantined events again, in order per stream (`booking quarantine
/// retry`).
pub async fn retry<S: EventStore>(
    store: &S,
    pool: &PgPool,
    projection: Projection,
) -> Result<Retried, RetryError> {
    Quarantine::new(quarantine::READ_MODELS, projection.name())
        .retry(pool, store, &Reapplied(projection))
        .await
}

struct Reapplied(Projection);

impl Reapply for Reapplied {
    async fn reapply(&self, tx: &mut PgConnection, event: RecordedEvent) -> Result<(), Failure> {
        let (_, decoded) = decode_owned(event);
        let event = decoded.map_err(|kind| Failure::Poison(kind.to_owned()))?;
        self.0.apply(tx, LIVE_SCHEMA, &[&event], false).await?;
        Ok(())
    }
}
