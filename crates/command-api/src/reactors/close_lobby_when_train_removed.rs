//! A removed train closes its lobby. The train's removal and the lobby's closing are two
//! streams, so the rule is a reaction: durable, retried until recorded, and recorded once.

use commands::Reactor;
use domain::{DomainEvent, Lobby, LobbyCloseReason, LobbyCommand, TrainEvent, TrainId};
use event_store::Filter;

pub(crate) struct CloseLobbyWhenTrainRemoved;

impl Reactor for CloseLobbyWhenTrainRemoved {
    type Target = Lobby;
    const NAME: &'static str = "close-lobby-when-train-removed";
    const REACTS_TO: &'static [&'static str] = &["TrainRemoved"];

    fn filter() -> Filter {
        Filter::prefixes([TrainId::STREAM_PREFIX])
    }

    fn react(event: &DomainEvent) -> Vec<(TrainId, LobbyCommand)> {
        match event {
            DomainEvent::Train(TrainEvent::TrainRemoved {
                train_id,
                removed_at,
            }) => vec![(
                *train_id,
                LobbyCommand::CloseOpen {
                    reason: LobbyCloseReason::TrainRemoved,
                    at: *removed_at,
                },
            )],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn a_removed_train_calls_for_closing_its_open_lobby_at_the_removal_time() {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 30, 10, 0, 0)
            .single()
            .expect("a time");
        let removed = DomainEvent::Train(TrainEvent::TrainRemoved {
            train_id: TrainId(7),
            removed_at: at,
        });
        assert!(CloseLobbyWhenTrainRemoved::REACTS_TO.contains(&removed.event_type()));
        let commands = CloseLobbyWhenTrainRemoved::react(&removed);
        assert_eq!(
            commands,
            vec![(
                TrainId(7),
                LobbyCommand::CloseOpen {
                    reason: LobbyCloseReason::TrainRemoved,
                    at
                }
            )]
        );
    }

    #[test]
    fn events_other_than_a_removal_call_for_nothing() {
        let registered = DomainEvent::Lobby(domain::LobbyEvent::LobbyOpened {
            lobby_id: domain::LobbyId(1),
            train_id: TrainId(7),
            opened_at: Utc::now(),
        });
        assert!(CloseLobbyWhenTrainRemoved::react(&registered).is_empty());
    }
}
