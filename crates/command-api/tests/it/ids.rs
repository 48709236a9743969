//! Ids taken in blocks: two processes taking booking ids at once, each in bursts, never get
//! the same one, and a restarted process does not hand out one it had before.

use commands::Ids;
use std::collections::HashSet;

/// Takes `count` booking ids with `tasks` callers at once.
async fn take(ids: &Ids, tasks: usize, count: usize) -> Vec<i64> {
    let mut running = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let ids = ids.clone();
        running.spawn(async move {
            let mut taken = Vec::with_capacity(count);
            for _ in 0..count {
                taken.push(ids.booking().await.expect("an id").0);
            }
            taken
        });
    }
    let mut all = Vec::new();
    while let Some(taken) = running.join_next().await {
        all.extend(taken.expect("a task"));
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_in_blocks_are_unique_across_processes_and_restarts() {
    let database = event_store::testing::TestDatabase::create().await;
    let pool = database.pool(8).await;
    commands::migrate(&pool).await.expect("migrations");
    let (one, two) = (Ids::new(pool.clone()), Ids::new(pool.clone()));
    let (first, second) = tokio::join!(take(&one, 4, 300), take(&two, 4, 300));
    drop((one, two));
    // A restart: the blocks the first two held are gaps now, never handed out again.
    let again = take(&Ids::new(pool.clone()), 2, 50).await;

    let all: Vec<i64> = first.into_iter().chain(second).chain(again).collect();
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "an id was handed out twice");
    assert_eq!(all.len(), 2500);
    // Busy callers took blocks, not one id per round trip: the sequence moved by more than
    // was handed out only by what the blocks still held.
    let last: i64 = sqlx::query_scalar("SELECT last_value FROM command_api.booking_ids")
        .fetch_one(&pool)
        .await
        .expect("the sequence");
    let held_back = usize::try_from(last).expect("positive") - all.len();
    assert!(
        held_back <= 3 * commands::ids::MAX_BLOCK,
        "{held_back} ids left unused by three processes"
    );
    pool.close().await;
}
