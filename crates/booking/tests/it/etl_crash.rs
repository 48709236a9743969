//! The etl process SIGKILLed at random moments while it loads 50,000 events from the feed,
//! restarted each time: once one runs to the end, the warehouse must equal one loaded cleanly
//! from the same log by `booking backfill`, row for row. (crash.rs kills the read-model
//! projector; the etl crate's own tests cover a redelivered batch in-process.)

use crate::crash::{random_below, write_log};
use crate::stack::{Process, amqp_url, booking, eventually, loaded};
use etl::testing::{TestTopology, dump};
use event_store::testing::TestDatabase;
use event_store::{EventStore, PgEventStore};
use std::process::Command;
use std::time::Duration;

const EVENTS: i64 = 50_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_etl_killed_mid_batch_again_and_again_ends_up_as_a_clean_load() {
    let log = TestDatabase::create().await;
    let store = PgEventStore::new(log.pool(2).await).await.expect("store");
    projector::migrate(store.pool()).await.expect("migrate");
    write_log(&store).await;
    assert_eq!(store.count(None).await.expect("count"), Some(EVENTS as u64));

    let topology = TestTopology::new(&amqp_url());
    let amqp = &topology.amqp;
    let crashed_db = TestDatabase::create().await;
    let with_broker = |command: &mut Command| {
        command
            .env("WAREHOUSE", "true")
            .env("AMQP_URL", &amqp.url)
            .env("AMQP_PREFIX", &amqp.prefix)
            .env("WAREHOUSE_DATABASE_URL", &crashed_db.url);
    };
    let mut projector = booking(&log.url);
    projector.args(["projector", "--ops-listen", "127.0.0.1:0"]);
    with_broker(&mut projector);
    let _projector = Process::spawn(&mut projector);
    let mut etl = booking(&log.url);
    etl.arg("etl")
        .env("ETL_BATCH_SIZE", "500")
        .env("ETL_OPS_LISTEN", "127.0.0.1:0");
    with_broker(&mut etl);

    // The etl creates the warehouse's schema when it starts; until then nothing is loaded.
    let crashed = crashed_db.pool(2).await;
    // Each etl is killed a random moment after its first batch commits, so that it dies
    // while later ones are being received, parsed or loaded.
    let mut killed_mid_way = 0;
    while killed_mid_way < 5 {
        let before = loaded(&crashed).await;
        let mut process = Process::spawn(&mut etl);
        eventually("the etl to load a batch", || async {
            loaded(&crashed).await > before
        })
        .await;
        tokio::time::sleep(Duration::from_millis(random_below(300))).await;
        process.kill();
        if loaded(&crashed).await >= EVENTS {
            break;
        }
        killed_mid_way += 1;
    }
    assert!(
        killed_mid_way >= 3,
        "only {killed_mid_way} kills landed while loading; the test proves little"
    );

    let _last = Process::spawn(&mut etl);
    eventually("the last etl to load everything", || async {
        loaded(&crashed).await == EVENTS
    })
    .await;

    let clean_db = TestDatabase::create().await;
    let backfill = booking(&log.url)
        .arg("backfill")
        .env("WAREHOUSE_DATABASE_URL", &clean_db.url)
        .output()
        .expect("run backfill");
    assert!(backfill.status.success(), "{backfill:?}");
    let clean = clean_db.pool(2).await;
    assert_eq!(loaded(&clean).await, EVENTS);
    let (crashed, clean) = (dump(&crashed).await, dump(&clean).await);
    let differing: Vec<_> = crashed
        .iter()
        .zip(&clean)
        .filter(|(a, b)| a != b)
        .take(5)
        .collect();
    assert!(
        crashed.len() == clean.len() && differing.is_empty(),
        "the warehouses differ ({} rows against {}), first: {differing:?}",
        crashed.len(),
        clean.len()
    );
}
