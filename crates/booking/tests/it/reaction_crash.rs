//! SIGKILL the command API while its reactor closes the lobbies of removed trains, again and
//! again, and once more after every closing but before the reactor's checkpoint moved: each
//! lobby still closes exactly once, counted in the log.

use crate::stack::{Process, booking, eventually, free_address};
use chrono::Utc;
use domain::{
    DomainEvent, LobbyEvent, LobbyId, Route, TrainDetails, TrainEvent, TrainId, TravelTime,
};
use event_store::checkpoint::Checkpoints;
use event_store::testing::TestDatabase;
use event_store::{EventStore, ExpectedRevision, Filter, NewEvent, PgEventStore, Position};

const TRAINS: i64 = 500;
const REACTOR: &str = "close-lobby-when-train-removed";

fn encode(event: impl Into<DomainEvent>) -> NewEvent {
    NewEvent::from(domain::encode(&event.into()))
}

/// Every train registered with an open lobby, then removed: the log as a command API leaves
/// it when it dies right after answering the removals. The last removal's position.
async fn removed_trains_with_open_lobbies(store: &PgEventStore) -> Position {
    let time = |raw: &str| TravelTime::parse(raw).expect("a valid time");
    let mut last = Position::default();
    for t in 1..=TRAINS {
        let train_id = TrainId(t);
        let registered = TrainEvent::TrainRegistered {
            train_id,
            details: TrainDetails {
                route: Route::parse("Chisinau-Bucuresti").expect("a valid route"),
                departure_time: time("2024-09-25T06:30"),
                arrival_time: time("2024-09-26T11:40"),
            },
            capacity: 10,
            stops: Vec::new(),
            layout: None,
            tariff: None,
            registered_at: Utc::now(),
        };
        let opened = LobbyEvent::LobbyOpened {
            lobby_id: LobbyId(t),
            train_id,
            opened_at: Utc::now(),
        };
        let removed = TrainEvent::TrainRemoved {
            train_id,
            removed_at: Utc::now(),
        };
        store
            .append(
                &train_id.stream(),
                ExpectedRevision::NoStream,
                vec![encode(registered)],
            )
            .await
            .expect("register");
        store
            .append(
                &train_id.lobby_stream(),
                ExpectedRevision::NoStream,
                vec![encode(opened)],
            )
            .await
            .expect("open the lobby");
        last = store
            .append(
                &train_id.stream(),
                ExpectedRevision::Exact(0),
                vec![encode(removed)],
            )
            .await
            .expect("remove")
            .position;
    }
    last
}

/// How many times each train's lobby was closed, in train order.
async fn closings(store: &PgEventStore) -> Vec<usize> {
    let mut counts = vec![0; usize::try_from(TRAINS).expect("a count")];
    let filter = Filter::prefixes([LobbyId::STREAM_PREFIX]);
    let mut after = None;
    loop {
        let page = store.read_all(after, &filter, 1000).await.expect("read");
        let Some(last) = page.last() else {
            return counts;
        };
        after = Some(last.position);
        for event in page.iter().filter(|e| e.event_type == "LobbyClosed") {
            let train: usize = event
                .stream
                .trim_start_matches(LobbyId::STREAM_PREFIX)
                .parse()
                .expect("a train id");
            counts[train - 1] += 1;
        }
    }
}

/// How many lobbies are closed.
async fn closed(store: &PgEventStore) -> usize {
    closings(store).await.iter().filter(|&&n| n > 0).count()
}

async fn reactor_at(pool: &sqlx::PgPool) -> Position {
    Checkpoints::all(pool)
        .await
        .unwrap_or_default()
        .into_iter()
        .find(|(name, _)| name == REACTOR)
        .map(|(_, at)| at)
        .unwrap_or_default()
}

fn command_api(database_url: &str) -> Process {
    Process::spawn(booking(database_url).args([
        "command-api",
        "--command-api-listen",
        &free_address().to_string(),
    ]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_api_killed_around_its_reactions_closes_each_lobby_exactly_once() {
    let database = TestDatabase::create().await;
    let pool = database.pool(5).await;
    let store = PgEventStore::new(pool.clone()).await.expect("store");
    projector::migrate(&pool).await.expect("migrate");
    let last_removal = removed_trains_with_open_lobbies(&store).await;

    // Each time, killed as soon as it has closed more lobbies than before.
    let mut killed_mid_way = 0;
    for _ in 0..3 {
        let before = closed(&store).await;
        let mut api = command_api(&database.url);
        eventually("the reactor closes more lobbies", || {
            let store = store.clone();
            async move { closed(&store).await > before }
        })
        .await;
        api.kill();
        if closed(&store).await < TRAINS as usize {
            killed_mid_way += 1;
        }
    }
    assert!(
        killed_mid_way >= 1,
        "no kill landed while the reactor was closing lobbies; the test proves little"
    );
    let mut api = command_api(&database.url);
    eventually("the reactor passes the last removal", || {
        let pool = pool.clone();
        async move { reactor_at(&pool).await >= last_removal }
    })
    .await;
    api.kill();
    assert_eq!(
        closings(&store).await,
        vec![1; closings(&store).await.len()]
    );

    // Killed after every closing was recorded but before the checkpoint moved: the reactor
    // sees every removal again.
    sqlx::query(
        "UPDATE projections.checkpoints SET commit_position = 0, prepare_position = 0
         WHERE name = $1",
    )
    .bind(REACTOR)
    .execute(&pool)
    .await
    .expect("move the checkpoint back");
    let mut api = command_api(&database.url);
    eventually("the reactor passes the last removal again", || {
        let pool = pool.clone();
        async move { reactor_at(&pool).await >= last_removal }
    })
    .await;
    api.kill();
    let closed = closings(&store).await;
    assert!(
        closed.iter().all(|&n| n == 1),
        "closings per lobby: {closed:?}"
    );
}
