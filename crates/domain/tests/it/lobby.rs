//! The lobby aggregate: it needs an existing train, one open lobby per train, and is closed by
//! its own id.

use crate::{at, given};
use domain::{Lobby, LobbyCloseReason, LobbyCommand, LobbyError, LobbyEvent, LobbyId, TrainId};

const TRAIN: TrainId = TrainId(7);
const LOBBY: LobbyId = LobbyId(3);
const NEXT_LOBBY: LobbyId = LobbyId(4);

fn open(lobby_id: LobbyId, train_exists: bool) -> LobbyCommand {
    LobbyCommand::Open {
        lobby_id,
        train_id: TRAIN,
        train_exists,
        at: at(1),
    }
}

fn close(lobby_id: LobbyId) -> LobbyCommand {
    LobbyCommand::Close {
        lobby_id,
        reason: LobbyCloseReason::Deleted,
        at: at(2),
    }
}

fn opened(lobby_id: LobbyId) -> LobbyEvent {
    LobbyEvent::LobbyOpened {
        lobby_id,
        train_id: TRAIN,
        opened_at: at(1),
    }
}

fn closed(lobby_id: LobbyId) -> LobbyEvent {
    LobbyEvent::LobbyClosed {
        lobby_id,
        train_id: TRAIN,
        reason: LobbyCloseReason::Deleted,
        closed_at: at(2),
    }
}

#[test]
fn opening_a_lobby_for_an_existing_train_records_it() {
    given::<Lobby>(&[])
        .when(open(LOBBY, true))
        .then(&[opened(LOBBY)]);
}

#[test]
fn opening_a_lobby_for_a_missing_train_is_refused() {
    given::<Lobby>(&[])
        .when(open(LOBBY, false))
        .then_error(LobbyError::TrainNotFound);
}

#[test]
fn opening_a_second_lobby_is_refused_with_the_open_lobbys_id() {
    given::<Lobby>(&[opened(LOBBY)])
        .when(open(NEXT_LOBBY, true))
        .then_error(LobbyError::LobbyAlreadyExists { lobby_id: LOBBY });
}

#[test]
fn closing_the_open_lobby_records_the_reason() {
    given::<Lobby>(&[opened(LOBBY)])
        .when(LobbyCommand::Close {
            lobby_id: LOBBY,
            reason: LobbyCloseReason::TrainRemoved,
            at: at(2),
        })
        .then(&[LobbyEvent::LobbyClosed {
            lobby_id: LOBBY,
            train_id: TRAIN,
            reason: LobbyCloseReason::TrainRemoved,
            closed_at: at(2),
        }]);
}

#[test]
fn closing_with_the_wrong_lobby_id_is_refused() {
    given::<Lobby>(&[opened(LOBBY)])
        .when(close(NEXT_LOBBY))
        .then_error(LobbyError::LobbyNotFound);
}

#[test]
fn closing_a_lobby_that_never_opened_is_refused() {
    given::<Lobby>(&[])
        .when(close(LOBBY))
        .then_error(LobbyError::LobbyNotFound);
}

#[test]
fn closing_a_lobby_twice_is_refused() {
    given::<Lobby>(&[opened(LOBBY), closed(LOBBY)])
        .when(close(LOBBY))
        .then_error(LobbyError::LobbyNotFound);
}

#[test]
fn a_closed_lobby_can_be_followed_by_a_new_lobby_with_a_new_id() {
    given::<Lobby>(&[opened(LOBBY), closed(LOBBY)])
        .when(open(NEXT_LOBBY, true))
        .then(&[opened(NEXT_LOBBY)]);
}

#[test]
fn a_new_lobby_after_a_closed_one_still_needs_an_existing_train() {
    given::<Lobby>(&[opened(LOBBY), closed(LOBBY)])
        .when(open(NEXT_LOBBY, false))
        .then_error(LobbyError::TrainNotFound);
}

#[test]
fn the_closed_lobbys_id_does_not_close_its_successor() {
    given::<Lobby>(&[opened(LOBBY), closed(LOBBY), opened(NEXT_LOBBY)])
        .when(close(LOBBY))
        .then_error(LobbyError::LobbyNotFound);
}

#[test]
fn the_successor_lobby_closes_by_its_own_id() {
    given::<Lobby>(&[opened(LOBBY), closed(LOBBY), opened(NEXT_LOBBY)])
        .when(close(NEXT_LOBBY))
        .then(&[closed(NEXT_LOBBY)]);
}

fn close_open() -> LobbyCommand {
    LobbyCommand::CloseOpen {
        reason: LobbyCloseReason::TrainRemoved,
        at: at(2),
    }
}

#[test]
fn closing_whichever_lobby_is_open_closes_it_without_knowing_its_id() {
    given::<Lobby>(&[opened(LOBBY)])
        .when(close_open())
        .then(&[LobbyEvent::LobbyClosed {
            lobby_id: LOBBY,
            train_id: TRAIN,
            reason: LobbyCloseReason::TrainRemoved,
            closed_at: at(2),
        }]);
}

#[test]
fn closing_whichever_lobby_is_open_when_none_ever_opened_records_nothing() {
    given::<Lobby>(&[]).when(close_open()).then(&[]);
}

#[test]
fn closing_whichever_lobby_is_open_after_it_closed_records_nothing() {
    given::<Lobby>(&[opened(LOBBY), closed(LOBBY)])
        .when(close_open())
        .then(&[]);
}
