//! Reactions: "a removed train closes its lobby" runs as a reactor, and a crash at either
//! side of the closing still closes the lobby exactly once. Runs on both event stores.

use crate::support::{TestApp, count, train_body};
use chrono::Utc;
use commands::{Cause, Executor, ExecutorSettings};
use domain::{
    DomainEvent, Lobby, LobbyCloseReason, LobbyCommand, LobbyEvent, LobbyId, LobbyState, Route,
    TrainDetails, TrainEvent, TrainId, TravelTime,
};
use event_store::checkpoint::Checkpoints;
use event_store::{EventStore, ExpectedRevision, NewEvent, Position};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const REACTOR: &str = "close-lobby-when-train-removed";

fn encode(event: impl Into<DomainEvent>) -> NewEvent {
    NewEvent::from(domain::encode(&event.into()))
}

/// Polls `done` until it holds, for at most 20 seconds.
async fn eventually<F: std::future::Future<Output = bool>>(mut done: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An executor of lobby commands on `app`'s log, as another process would have.
fn lobby_executor(app: &TestApp) -> Executor<Lobby> {
    Executor::new(
        app.store.clone(),
        ExecutorSettings::default(),
        TaskTracker::new(),
        CancellationToken::new(),
    )
}

fn open_lobby(train_id: TrainId, lobby_id: i64) -> LobbyCommand {
    LobbyCommand::Open {
        lobby_id: LobbyId(lobby_id),
        train_id,
        train_exists: true,
        at: Utc::now(),
    }
}

fn close_lobby() -> LobbyCommand {
    LobbyCommand::CloseOpen {
        reason: LobbyCloseReason::TrainRemoved,
        at: Utc::now(),
    }
}

/// A cause, as a reactor gives the commands it issues.
fn reactor_cause() -> Cause {
    Cause {
        event_id: uuid::Uuid::now_v7(),
        by: "test-reactor",
        part: 0,
    }
}

async fn reactor_at(app: &TestApp) -> Position {
    Checkpoints::all(&app.pool)
        .await
        .expect("checkpoints")
        .into_iter()
        .find(|(name, _)| name == REACTOR)
        .map(|(_, at)| at)
        .unwrap_or_default()
}

#[tokio::test]
async fn removing_a_train_answers_once_its_lobby_is_closed() {
    let app = TestApp::spawn().await;
    let train = app.train(10).await;
    let lobby_stream = TrainId(train).lobby_stream();
    app.store
        .append(
            &lobby_stream,
            ExpectedRevision::NoStream,
            vec![encode(LobbyEvent::LobbyOpened {
                lobby_id: LobbyId(1),
                train_id: TrainId(train),
                opened_at: Utc::now(),
            })],
        )
        .await
        .expect("open a lobby");

    let (status, _) = app.delete(&format!("/trains/{train}")).await;
    assert_eq!(status, 200);

    // Recorded and visible by the time the removal answered.
    assert_eq!(count(&app.log().await, &lobby_stream, "LobbyClosed"), 1);
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM read_models.lobbies")
        .fetch_one(&app.pool)
        .await
        .expect("count lobbies");
    assert_eq!(open, 0);
}

#[tokio::test]
async fn a_crash_on_either_side_of_the_closing_still_closes_the_lobby_exactly_once() {
    let mut app = TestApp::spawn().await;
    // The process dies right after recording the removal: the log holds the removal and an
    // open lobby, and nothing has reacted yet.
    app.kill_api();
    let train_id = TrainId(9_001);
    let time = |raw: &str| TravelTime::parse(raw).expect("a valid time");
    let details = TrainDetails {
        route: Route::parse("Chisinau-Bucuresti").expect("a valid route"),
        departure_time: time("2024-09-25T06:30"),
        arrival_time: time("2024-09-26T11:40"),
    };
    app.store
        .append(
            &train_id.stream(),
            ExpectedRevision::NoStream,
            vec![encode(TrainEvent::TrainRegistered {
                train_id,
                details,
                capacity: 10,
                stops: Vec::new(),
                layout: None,
                tariff: None,
                registered_at: Utc::now(),
            })],
        )
        .await
        .expect("register");
    app.store
        .append(
            &train_id.lobby_stream(),
            ExpectedRevision::NoStream,
            vec![encode(LobbyEvent::LobbyOpened {
                lobby_id: LobbyId(1),
                train_id,
                opened_at: Utc::now(),
            })],
        )
        .await
        .expect("open the lobby");
    let removed = app
        .store
        .append(
            &train_id.stream(),
            ExpectedRevision::Exact(0),
            vec![encode(TrainEvent::TrainRemoved {
                train_id,
                removed_at: Utc::now(),
            })],
        )
        .await
        .expect("remove")
        .position;

    // After the restart the reactor picks the removal up from its checkpoint.
    app.restart_api().await;
    eventually(|| async { reactor_at(&app).await >= removed }).await;
    let lobby_stream = train_id.lobby_stream();
    assert_eq!(count(&app.log().await, &lobby_stream, "LobbyClosed"), 1);

    // Now the process dies after the closing but before its checkpoint moved: the reactor
    // sees the removal again.
    app.kill_api();
    sqlx::query(
        "UPDATE projections.checkpoints SET commit_position = 0, prepare_position = 0
         WHERE name = $1",
    )
    .bind(REACTOR)
    .execute(&app.pool)
    .await
    .expect("move the checkpoint back");
    app.restart_api().await;
    eventually(|| async { reactor_at(&app).await >= removed }).await;

    let log = app.log().await;
    assert_eq!(count(&log, &lobby_stream, "LobbyClosed"), 1);
    // Other trains are unaffected, and the API still works.
    let (status, _) = app.post("/trains", train_body(5)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_cause_recorded_once_is_never_decided_again_even_where_the_command_would_apply() {
    let app = TestApp::spawn().await;
    let executor = || lobby_executor(&app);
    let train_id = TrainId(4_242);
    let open = |lobby_id| open_lobby(train_id, lobby_id);
    let (close, cause) = (close_lobby(), reactor_cause());

    let first = executor();
    first.execute(train_id, open(1)).await.expect("open");
    let closed = first
        .execute_caused(train_id, close.clone(), cause)
        .await
        .expect("close");
    assert_eq!(closed.events.len(), 1);
    first.execute(train_id, open(2)).await.expect("reopen");

    // A new process learns the cause from the log, not from memory.
    let restarted = executor();
    let repeated = restarted
        .execute_caused(train_id, close, cause)
        .await
        .expect("the repeat is answered");
    assert!(repeated.events.is_empty(), "{:?}", repeated.events);
    assert_eq!(
        restarted.load(train_id).await.expect("load"),
        LobbyState::Open {
            lobby_id: LobbyId(2),
            train_id
        }
    );
    assert_eq!(
        count(&app.log().await, &train_id.lobby_stream(), "LobbyClosed"),
        1
    );
}

#[tokio::test]
async fn a_worker_behind_another_process_catches_up_on_its_state_and_causes() {
    let app = TestApp::spawn().await;
    let executor = || lobby_executor(&app);
    let train_id = TrainId(4_343);
    let open = |lobby_id| open_lobby(train_id, lobby_id);
    let (close, cause) = (close_lobby(), reactor_cause());
    let (first, second) = (executor(), executor());

    // Each keeps the stream as it last saw it: the first with lobby 1 open.
    first.execute(train_id, open(1)).await.expect("open");
    let closed = second
        .execute_caused(train_id, close.clone(), cause)
        .await
        .expect("close");
    assert_eq!(closed.events.len(), 1);

    // The first would refuse a new lobby; checked against the stream, it catches up and opens.
    let reopened = first.execute(train_id, open(2)).await.expect("reopen");
    assert_eq!(reopened.events.len(), 1);
    // What it caught up on includes the cause the other process recorded.
    let repeated = first
        .execute_caused(train_id, close, cause)
        .await
        .expect("the repeat is answered");
    assert!(repeated.events.is_empty(), "{:?}", repeated.events);

    // The second still sees lobby 1 closed: its append loses the race, it catches up, and the
    // command is decided again against lobby 2.
    let refused = second.execute(train_id, open(3)).await;
    assert!(
        matches!(
            refused,
            Err(commands::CommandError::Rejected(
                domain::LobbyError::LobbyAlreadyExists {
                    lobby_id: LobbyId(2)
                }
            ))
        ),
        "{refused:?}"
    );
    let log = app.log().await;
    let stream = train_id.lobby_stream();
    assert_eq!(count(&log, &stream, "LobbyOpened"), 2);
    assert_eq!(count(&log, &stream, "LobbyClosed"), 1);
    assert_eq!(
        second.load(train_id).await.expect("load"),
        LobbyState::Open {
            lobby_id: LobbyId(2),
            train_id
        }
    );
}
