//! Identifier newtypes. Ids are positive integers, allocated outside the domain, never reused,
//! and recorded in events so that a replay yields the same ids.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// Identifies a train and names its stream (`train-{id}`).
    TrainId
);
id_type!(
    /// Identifies a booking; unique across all trains.
    BookingId
);
id_type!(
    /// Identifies a lobby; unique across all trains.
    LobbyId
);
id_type!(
    /// Identifies an account and names its stream (`user-{id}`); never reused, also after
    /// erasure.
    UserId
);

impl UserId {
    /// Prefix shared by every user stream.
    pub const STREAM_PREFIX: &'static str = "user-";

    /// The stream that holds this account.
    pub fn stream(self) -> String {
        format!("{}{}", Self::STREAM_PREFIX, self.0)
    }
}

impl TrainId {
    /// The stream that holds this train, its seats and its bookings: the consistency boundary
    /// for everything that consumes a seat.
    pub fn stream(self) -> String {
        format!("{}{}", Self::STREAM_PREFIX, self.0)
    }

    /// Prefix shared by every train stream; subscriptions filter on it.
    pub const STREAM_PREFIX: &'static str = "train-";

    /// The stream holding the lobby of this train. Keying it by train makes "one lobby per
    /// train" an expected-revision check instead of a cross-stream race.
    pub fn lobby_stream(self) -> String {
        format!("{}{}", LobbyId::STREAM_PREFIX, self.0)
    }
}

impl LobbyId {
    /// Prefix shared by every lobby stream (`lobby-train-{train_id}`).
    pub const STREAM_PREFIX: &'static str = "lobby-train-";
}
