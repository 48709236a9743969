//! Poison events through the real processes: the projector (its projections and the warehouse
//! feed) and the etl set aside what they cannot decode or load, keep going with everything
//! else, report it on readiness as degraded (200, never 503), and an operator sees it with
//! `booking quarantine list` and `booking verify`, and tries it again with `retry`.

use crate::stack::{Http, Process, amqp_url, booking, eventually, free_address, loaded};
use chrono::Utc;
use domain::{BookingId, Route, TrainDetails, TrainEvent, TrainId, TravelTime};
use etl::testing::TestTopology;
use event_store::testing::TestDatabase;
use event_store::{EventStore, ExpectedRevision, NewEvent, PgEventStore};
use serde_json::{Value, json};
use std::process::{Command, Output};

fn registration(train: i64) -> NewEvent {
    let time = |raw: &str| TravelTime::parse(raw).expect("a valid time");
    encode(TrainEvent::TrainRegistered {
        train_id: TrainId(train),
        details: TrainDetails {
            route: Route::parse("Chisinau-Bucuresti").expect("a valid route"),
            departure_time: time("2024-09-25T06:30"),
            arrival_time: time("2024-09-26T11:40"),
        },
        capacity: 50,
        stops: Vec::new(),
        layout: None,
        tariff: None,
        registered_at: Utc::now(),
    })
}

fn encode(event: TrainEvent) -> NewEvent {
    NewEvent::from(domain::encode(&event.into()))
}

async fn append(store: &PgEventStore, train: i64, event: NewEvent) {
    store
        .append(&TrainId(train).stream(), ExpectedRevision::Any, vec![event])
        .await
        .expect("append");
}

/// Train 1 is sound; train 2 departs in 5000 BC (it decodes, but no column holds it) and then
/// takes a booking; train 3's registration does not decode; train 4 is sound.
async fn write_log(store: &PgEventStore) {
    append(store, 1, registration(1)).await;
    let mut ancient = registration(2);
    ancient.data["departure_time"] = json!("-5000-01-01T00:00");
    append(store, 2, ancient).await;
    let booked = encode(TrainEvent::SeatBooked {
        order_id: None,
        train_id: TrainId(2),
        booking_id: BookingId(1),
        user_credentials: "Jane Roe".into(),
        seat_count: 1,
        seats_left: 49,
        seat: None,
        class: None,
        price: None,
        booked_at: Utc::now(),
    });
    append(store, 2, booked).await;
    let mut garbled = registration(3);
    garbled.data = json!({"train_id": "three", "owner": "Jane Roe"});
    append(store, 3, garbled).await;
    append(store, 4, registration(4)).await;
}

async fn ready(http: &Http, ops: &str) -> Value {
    let (status, body) = http.get(&format!("http://{ops}/health/ready")).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_projector_and_the_etl_set_poison_aside_and_an_operator_sees_and_retries_it() {
    let log = TestDatabase::create().await;
    let store = PgEventStore::new(log.pool(2).await).await.expect("store");
    projector::migrate(store.pool()).await.expect("migrate");
    write_log(&store).await;

    let topology = TestTopology::new(&amqp_url());
    let amqp = &topology.amqp;
    let warehouse_db = TestDatabase::create().await;
    let with_warehouse = |command: &mut Command| {
        command
            .env("WAREHOUSE", "true")
            .env("AMQP_URL", &amqp.url)
            .env("AMQP_PREFIX", &amqp.prefix)
            .env("WAREHOUSE_DATABASE_URL", &warehouse_db.url);
    };
    let (projector_ops, etl_ops) = (free_address().to_string(), free_address().to_string());
    let mut projector = booking(&log.url);
    projector.args(["projector", "--ops-listen", &projector_ops]);
    with_warehouse(&mut projector);
    let _projector = Process::spawn(&mut projector);
    let mut etl = booking(&log.url);
    etl.arg("etl").env("ETL_OPS_LISTEN", &etl_ops);
    with_warehouse(&mut etl);
    let _etl = Process::spawn(&mut etl);

    // Everything sound gets through: both good trains reach the read model and the warehouse.
    let http = Http::new();
    let warehouse = warehouse_db.pool(2).await;
    eventually("the sound events to be loaded", || async {
        loaded(&warehouse).await == 2
    })
    .await;
    let trains: Vec<i64> = sqlx::query_scalar("SELECT id FROM read_models.trains ORDER BY id")
        .fetch_all(store.pool())
        .await
        .expect("read the trains");
    assert_eq!(trains, vec![1, 4]);

    // Degraded, with what each process set aside.
    eventually("the projector to report its quarantine", || async {
        let body = http
            .get(&format!("http://{projector_ops}/health/ready"))
            .await
            .1;
        body["status"] == "degraded"
    })
    .await;
    let entries = list(&log.url, &with_warehouse).await;
    let of = |runner: &str| -> Vec<(String, String)> {
        entries
            .iter()
            .filter(|e| e[0] == runner)
            .map(|e| (e[2].clone(), e[5].clone()))
            .collect()
    };
    let kinds = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(s, k)| ((*s).to_owned(), (*k).to_owned()))
            .collect()
    };
    assert_eq!(
        of("trains"),
        kinds(&[
            ("train-2", "sqlstate_22008"),
            ("train-2", "behind"),
            ("train-3", "malformed")
        ])
    );
    assert_eq!(of("warehouse-feed"), kinds(&[("train-3", "malformed")]));
    let etl_entries = of("etl");
    assert_eq!(etl_entries.len(), 2, "{etl_entries:?}");
    assert_eq!(etl_entries[0].0, "train-2");
    assert!(
        etl_entries[0].1.starts_with("sqlstate_2"),
        "{etl_entries:?}"
    );
    assert_eq!(etl_entries[1], ("train-2".to_owned(), "behind".to_owned()));
    let projector_runners = [
        "trains",
        "bookings",
        "lobbies",
        "users",
        "holds",
        "search",
        "orders",
        "warehouse-feed",
    ];
    let held = entries
        .iter()
        .filter(|e| projector_runners.contains(&e[0].as_str()))
        .count();
    assert_eq!(
        ready(&http, &projector_ops).await,
        json!({"status": "degraded", "quarantined": held})
    );
    eventually("the etl to report its quarantine", || async {
        let body = http.get(&format!("http://{etl_ops}/health/ready")).await.1;
        body == json!({"status": "degraded", "quarantined": 2})
    })
    .await;
    // Never the events' data, anywhere an operator looks.
    let listed = format!("{entries:?}");
    assert!(
        !listed.contains("Jane") && !listed.contains("5000"),
        "{listed}"
    );

    // verify names them and fails, though the rows themselves match the log.
    let mut verify = booking(&log.url);
    verify.arg("verify");
    let verified = verify.output().expect("run verify");
    assert_eq!(verified.status.code(), Some(1), "{verified:?}");
    let report = stdout(&verified);
    assert!(report.contains("0 rows differ"), "{report}");
    assert!(
        report.contains(&format!("{} events quarantined", held)),
        "{report}"
    );

    // A retry with nothing fixed applies nothing, keeps every event, and says so.
    let mut retry = booking(&log.url);
    retry.args(["quarantine", "retry"]);
    with_warehouse(&mut retry);
    let retried = retry.output().expect("run quarantine retry");
    assert_eq!(retried.status.code(), Some(1), "{retried:?}");
    let report = stdout(&retried);
    for line in [
        "trains: 0 applied, 3 still quarantined",
        "warehouse-feed: 0 applied, 1 still quarantined",
        "etl: 0 applied, 2 still quarantined",
    ] {
        assert!(report.contains(line), "{report}");
    }
    assert_eq!(list(&log.url, &with_warehouse).await.len(), entries.len());
}

/// `booking quarantine list`, as rows of its tab-separated columns (header dropped).
async fn list(database_url: &str, with_warehouse: &impl Fn(&mut Command)) -> Vec<Vec<String>> {
    let mut command = booking(database_url);
    command.args(["quarantine", "list"]);
    with_warehouse(&mut command);
    let output = command.output().expect("run quarantine list");
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    text.lines()
        .skip(1)
        .map(|line| line.split('\t').map(str::to_owned).collect())
        .collect()
}
