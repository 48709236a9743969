//! The lobby aggregate: the waiting room of one train.
//!
//! Its stream is keyed by the train (`lobby-train-{train_id}`), which turns "one lobby per
//! train" into an ordinary expected-revision check. The lobby keeps its own id for the public API.

use crate::{Decider, LobbyId, TrainId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The lobby decider.
pub struct Lobby;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LobbyCommand {
    Open {
        lobby_id: LobbyId,
        train_id: TrainId,
        /// Whether the train is on the schedule, read from its stream by the caller.
        train_exists: bool,
        at: DateTime<Utc>,
    },
    Close {
        lobby_id: LobbyId,
        reason: LobbyCloseReason,
        at: DateTime<Utc>,
    },
    /// Closes whichever lobby is open; nothing to do when none is. What a reaction sends,
    /// since it does not know the lobby's id.
    CloseOpen {
        reason: LobbyCloseReason,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LobbyCloseReason {
    /// Deleted through the API.
    Deleted,
    /// Its train was removed from the schedule.
    TrainRemoved,
}

/// What happened to a lobby. Stored forever: names and fields are a contract with the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum LobbyEvent {
    LobbyOpened {
        lobby_id: LobbyId,
        train_id: TrainId,
        opened_at: DateTime<Utc>,
    },
    LobbyClosed {
        lobby_id: LobbyId,
        train_id: TrainId,
        reason: LobbyCloseReason,
        closed_at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LobbyError {
    #[error("Train not found")]
    TrainNotFound,
    #[error("Lobby already exists for this train")]
    LobbyAlreadyExists { lobby_id: LobbyId },
    #[error("Lobby not found")]
    LobbyNotFound,
}

/// The lifecycle of a train's lobby stream. A closed lobby may be followed by a new one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LobbyState {
    #[default]
    NeverOpened,
    Open {
        lobby_id: LobbyId,
        train_id: TrainId,
    },
    Closed {
        lobby_id: LobbyId,
        train_id: TrainId,
    },
}

impl Decider for Lobby {
    type State = LobbyState;
    type Command = LobbyCommand;
    type Event = LobbyEvent;
    type Error = LobbyError;

    fn decide(state: &LobbyState, command: LobbyCommand) -> Result<Vec<LobbyEvent>, LobbyError> {
        match (state, command) {
            (LobbyState::Open { lobby_id, .. }, LobbyCommand::Open { .. }) => {
                Err(LobbyError::LobbyAlreadyExists {
                    lobby_id: *lobby_id,
                })
            }
            (
                _,
                LobbyCommand::Open {
                    train_exists: false,
                    ..
                },
            ) => Err(LobbyError::TrainNotFound),
            (
                _,
                LobbyCommand::Open {
                    lobby_id,
                    train_id,
                    at,
                    ..
                },
            ) => Ok(vec![LobbyEvent::LobbyOpened {
                lobby_id,
                train_id,
                opened_at: at,
            }]),
            (
                LobbyState::Open {
                    lobby_id: open,
                    train_id,
                },
                LobbyCommand::Close {
                    lobby_id,
                    reason,
                    at,
                },
            ) if *open == lobby_id => Ok(vec![LobbyEvent::LobbyClosed {
                lobby_id,
                train_id: *train_id,
                reason,
                closed_at: at,
            }]),
            (_, LobbyCommand::Close { .. }) => Err(LobbyError::LobbyNotFound),
            (LobbyState::Open { lobby_id, train_id }, LobbyCommand::CloseOpen { reason, at }) => {
                Ok(vec![LobbyEvent::LobbyClosed {
                    lobby_id: *lobby_id,
                    train_id: *train_id,
                    reason,
                    closed_at: at,
                }])
            }
            (_, LobbyCommand::CloseOpen { .. }) => Ok(Vec::new()),
        }
    }

    fn evolve(_state: LobbyState, event: &LobbyEvent) -> LobbyState {
        match *event {
            LobbyEvent::LobbyOpened {
                lobby_id, train_id, ..
            } => LobbyState::Open { lobby_id, train_id },
            LobbyEvent::LobbyClosed {
                lobby_id, train_id, ..
            } => LobbyState::Closed { lobby_id, train_id },
        }
    }
}

impl crate::EventFamily for LobbyEvent {
    const TYPES: &'static [(&'static str, u32)] = &[("LobbyOpened", 1), ("LobbyClosed", 1)];

    fn event_type(&self) -> &'static str {
        match self {
            Self::LobbyOpened { .. } => "LobbyOpened",
            Self::LobbyClosed { .. } => "LobbyClosed",
        }
    }
}
