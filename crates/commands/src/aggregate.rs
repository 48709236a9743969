//! The [`Aggregate`] trait: a domain decider whose events travel as [`DomainEvent`]s, and
//! the streams its instances live in. One impl per aggregate, here.

use domain::{Decider, DomainEvent, EmailKey, LobbyId, OrderId, TrainId, UserId};

/// An aggregate whose events travel as [`DomainEvent`]s, and the streams it lives in.
pub trait Aggregate:
    Decider<
        State: Clone + Send + Sync,
        Command: Clone + Send,
        Event: Clone + Send + Sync + Into<DomainEvent> + TryFrom<DomainEvent>,
        Error: Send,
    > + 'static
{
    /// What names one instance: its stream is `STREAM_PREFIX` followed by the key.
    type Key: std::fmt::Display + Clone + Send + Sync + 'static;
    /// Prefix shared by every stream of this aggregate; subscriptions filter on it.
    const STREAM_PREFIX: &'static str;

    /// The stream that holds the instance named `key`.
    fn stream(key: Self::Key) -> String {
        format!("{}{key}", Self::STREAM_PREFIX)
    }
}

impl Aggregate for domain::Train {
    type Key = TrainId;
    const STREAM_PREFIX: &'static str = TrainId::STREAM_PREFIX;
}

/// Keyed by its train, which makes "one lobby per train" an expected-revision check.
impl Aggregate for domain::Lobby {
    type Key = TrainId;
    const STREAM_PREFIX: &'static str = LobbyId::STREAM_PREFIX;
}

impl Aggregate for domain::User {
    type Key = UserId;
    const STREAM_PREFIX: &'static str = UserId::STREAM_PREFIX;
}

/// Keyed by the email's keyed hash: "one account per email" is an expected-revision check.
impl Aggregate for domain::EmailClaim {
    type Key = EmailKey;
    const STREAM_PREFIX: &'static str = EmailKey::STREAM_PREFIX;
}

/// An order's stream holds every step of its process, and its payments and refunds.
impl Aggregate for domain::Orders {
    type Key = OrderId;
    const STREAM_PREFIX: &'static str = OrderId::STREAM_PREFIX;
}
