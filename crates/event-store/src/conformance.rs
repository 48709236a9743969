//! The conformance suite: what every adapter must prove. Each check is a plain async function
//! over a [`Harness`]; [`conformance_tests!`](crate::conformance_tests) turns them into tests
//! for one adapter.

use crate::{EventStore, ExpectedRevision, Filter, NewEvent, RecordedEvent, StoreError};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;
use uuid::Uuid;

/// One adapter under test, over a fresh and empty log.
pub trait Harness: Send + Sync {
    type Store: EventStore;

    fn store(&self) -> Self::Store;

    /// Breaks every connection the store holds, as a network failure or server restart would.
    fn interrupt(&self) -> impl Future<Output = ()> + Send;
}

/// Generates one `#[tokio::test]` per check, each with its own harness from `$make`.
///
/// - `conformance_tests!(make)`: the whole suite, with event ids unique across the log.
/// - `conformance_tests!(make; event_ids_per_stream)`: for a store that, like EventStoreDB,
///   recognises a repeated event id only within one stream; the cross-stream check then
///   asserts that documented behaviour instead.
/// - `conformance_tests!(ignore = "why"; make ...)`: the same, reported as ignored unless
///   run with `--run-ignored` (for suites that need an outside server).
#[macro_export]
macro_rules! conformance_tests {
    (@suite [$($attr:tt)*] $make:expr; $ids:ident) => {
        $crate::conformance_tests!(@each [$($attr)*] $make;
            append_returns_revisions_and_positions,
            conflicting_append_fails_and_writes_nothing,
            racing_appends_on_one_revision_let_exactly_one_win,
            reappending_the_same_events_is_idempotent,
            $ids,
            global_log_is_ordered_and_filtered_by_stream_prefix,
            subscription_catches_up_then_goes_live,
            subscription_resumes_after_lost_connections,
            concurrent_writers_never_make_a_subscriber_skip,
            subscriptions_at_their_own_pace_each_see_their_events_once);
    };
    (@each [$($attr:tt)*] $make:expr;) => {};
    (@each [$($attr:tt)*] $make:expr; $check:ident $(, $rest:ident)*) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        $($attr)*
        async fn $check() {
            let harness = $make.await;
            $crate::conformance::$check(&harness).await;
        }
        $crate::conformance_tests!(@each [$($attr)*] $make; $($rest),*);
    };
    (ignore = $why:literal; $make:expr $(; $ids:ident)?) => {
        $crate::conformance_tests!(@pick [#[ignore = $why]] $make $(; $ids)?);
    };
    ($make:expr $(; $ids:ident)?) => {
        $crate::conformance_tests!(@pick [] $make $(; $ids)?);
    };
    (@pick [$($attr:tt)*] $make:expr) => {
        $crate::conformance_tests!(@suite [$($attr)*] $make;
            an_event_id_stored_elsewhere_is_refused_and_nothing_is_written);
    };
    (@pick [$($attr:tt)*] $make:expr; event_ids_per_stream) => {
        $crate::conformance_tests!(@suite [$($attr)*] $make;
            an_event_id_stored_in_another_stream_is_written_there_too);
    };
}

fn event(kind: &str, n: usize) -> NewEvent {
    NewEvent::new(kind, serde_json::json!({ "n": n }))
}

fn events(kind: &str, count: usize) -> Vec<NewEvent> {
    (0..count).map(|n| event(kind, n)).collect()
}

async fn whole_log<S: EventStore>(store: &S) -> Vec<RecordedEvent> {
    let mut all = Vec::new();
    loop {
        let page = store
            .read_all(
                all.last().map(|e: &RecordedEvent| e.position),
                &Filter::all(),
                500,
            )
            .await;
        let page = page.expect("read the log");
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

/// Reads from `subscription` until `done` says so, failing after a generous deadline.
async fn collect_until(
    subscription: &mut crate::Subscription,
    seen: &mut Vec<RecordedEvent>,
    mut done: impl FnMut(&[RecordedEvent]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while !done(seen) {
        let batch = tokio::time::timeout_at(deadline, subscription.next_batch(1000))
            .await
            .expect("subscription delivered everything before the deadline")
            .expect("subscription read");
        assert!(!batch.is_empty(), "subscription ended early");
        seen.extend(batch);
    }
}

fn assert_strictly_increasing(events: &[RecordedEvent]) {
    for pair in events.windows(2) {
        assert!(
            pair[0].position < pair[1].position,
            "positions out of order: {:?} then {:?}",
            pair[0].position,
            pair[1].position
        );
    }
}

pub async fn append_returns_revisions_and_positions<H: Harness>(harness: &H) {
    let store = harness.store();
    let first = store
        .append("order-1", ExpectedRevision::NoStream, events("Placed", 3))
        .await
        .expect("append");
    assert_eq!(first.revision, 2);
    let second = store
        .append("order-1", ExpectedRevision::Exact(2), events("Paid", 1))
        .await
        .expect("append");
    assert_eq!(second.revision, 3);
    assert!(second.position > first.position);
    let third = store
        .append(
            "order-1",
            ExpectedRevision::StreamExists,
            events("Shipped", 1),
        )
        .await
        .expect("append");
    let fourth = store
        .append("order-1", ExpectedRevision::Any, events("Noted", 1))
        .await
        .expect("append");
    assert_eq!((third.revision, fourth.revision), (4, 5));

    let stream = store.read_stream("order-1").await.expect("read stream");
    let revisions: Vec<u64> = stream.iter().map(|e| e.revision).collect();
    assert_eq!(revisions, vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(stream[0].data, serde_json::json!({ "n": 0 }));
    assert_eq!(stream[3].event_type, "Paid");
    assert_eq!(stream[5].position, fourth.position);
    assert_strictly_increasing(&stream);
    assert!(
        store
            .read_stream("order-404")
            .await
            .expect("read stream")
            .is_empty()
    );

    // What a reader holding the stream up to a revision lacks: exactly the later events.
    let after = store
        .read_stream_after("order-1", 3)
        .await
        .expect("read stream after");
    assert_eq!(after, stream[4..].to_vec());
    let all = store
        .read_stream_after("order-1", 0)
        .await
        .expect("read stream after");
    assert_eq!(all, stream[1..].to_vec());
    for (stream_id, after) in [("order-1", 5), ("order-1", u64::MAX), ("order-404", 0)] {
        assert!(
            store
                .read_stream_after(stream_id, after)
                .await
                .expect("read stream after")
                .is_empty(),
            "{stream_id} after {after}"
        );
    }
}

pub async fn conflicting_append_fails_and_writes_nothing<H: Harness>(harness: &H) {
    let store = harness.store();
    store
        .append("cart-1", ExpectedRevision::NoStream, events("Opened", 2))
        .await
        .expect("append");
    let before = whole_log(&store).await;

    for expected in [
        ExpectedRevision::NoStream,
        ExpectedRevision::Exact(0),
        ExpectedRevision::Exact(7),
    ] {
        let refused = store.append("cart-1", expected, events("Late", 3)).await;
        match refused {
            Err(StoreError::WrongExpectedRevision { actual, .. }) => assert_eq!(actual, Some(1)),
            other => panic!("expected a conflict for {expected:?}, got {other:?}"),
        }
    }
    let missing = store
        .append("cart-2", ExpectedRevision::StreamExists, events("Late", 1))
        .await;
    assert!(
        matches!(
            missing,
            Err(StoreError::WrongExpectedRevision { actual: None, .. })
        ),
        "{missing:?}"
    );
    let missing = store
        .append("cart-3", ExpectedRevision::Exact(0), events("Late", 1))
        .await;
    assert!(
        matches!(
            missing,
            Err(StoreError::WrongExpectedRevision { actual: None, .. })
        ),
        "{missing:?}"
    );

    assert_eq!(
        whole_log(&store).await,
        before,
        "a refused append wrote something"
    );
    assert!(store.read_stream("cart-2").await.expect("read").is_empty());
}

pub async fn racing_appends_on_one_revision_let_exactly_one_win<H: Harness>(harness: &H) {
    let store = harness.store();
    store
        .append("seat-1", ExpectedRevision::NoStream, events("Listed", 1))
        .await
        .expect("append");
    let racers: Vec<_> = (0..16)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .append(
                        "seat-1",
                        ExpectedRevision::Exact(0),
                        vec![event("Taken", n), event("Paid", n)],
                    )
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        match racer.await.expect("racer") {
            Ok(result) => {
                won += 1;
                assert_eq!(result.revision, 2);
            }
            Err(e) => assert!(e.is_conflict(), "unexpected error {e:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(store.read_stream("seat-1").await.expect("read").len(), 3);
}

pub async fn reappending_the_same_events_is_idempotent<H: Harness>(harness: &H) {
    let store = harness.store();
    let batch = events("Booked", 2);
    let original = store
        .append("trip-1", ExpectedRevision::NoStream, batch.clone())
        .await
        .expect("append");
    store
        .append("trip-1", ExpectedRevision::Exact(1), events("Noted", 1))
        .await
        .expect("append");

    let retried = store
        .append("trip-1", ExpectedRevision::NoStream, batch.clone())
        .await
        .expect("idempotent retry");
    assert_eq!(retried, original);
    let retried_any = store
        .append("trip-1", ExpectedRevision::Any, batch)
        .await
        .expect("idempotent retry");
    assert_eq!(retried_any, original);
    assert_eq!(store.read_stream("trip-1").await.expect("read").len(), 3);
    assert_eq!(whole_log(&store).await.len(), 3);
}

pub async fn an_event_id_stored_elsewhere_is_refused_and_nothing_is_written<H: Harness>(
    harness: &H,
) {
    let store = harness.store();
    let taken = event("Booked", 0);
    store
        .append("trip-1", ExpectedRevision::NoStream, vec![taken.clone()])
        .await
        .expect("append");
    let before = whole_log(&store).await;

    // The clash is the last of three: the first two must not be written either.
    let batch = vec![event("A", 1), event("B", 2), taken.clone()];
    let refused = store.append("trip-2", ExpectedRevision::Any, batch).await;
    assert!(
        matches!(refused, Err(StoreError::DuplicateEventId(id)) if id == taken.id),
        "{refused:?}"
    );
    assert_eq!(whole_log(&store).await, before);
    assert!(store.read_stream("trip-2").await.expect("read").is_empty());
}

/// EventStoreDB's documented rule: a retried append is recognised by the ids stored at the
/// expected place in the *same* stream; event ids are not unique across streams. So an id
/// already stored in another stream is written again, and a retry there is idempotent too.
pub async fn an_event_id_stored_in_another_stream_is_written_there_too<H: Harness>(harness: &H) {
    let store = harness.store();
    let taken = event("Booked", 0);
    store
        .append("trip-1", ExpectedRevision::NoStream, vec![taken.clone()])
        .await
        .expect("append");
    let batch = vec![event("A", 1), event("B", 2), taken.clone()];
    let written = store
        .append("trip-2", ExpectedRevision::Any, batch.clone())
        .await
        .expect("the same id in another stream is written");
    assert_eq!(written.revision, 2);
    let retried = store
        .append("trip-2", ExpectedRevision::NoStream, batch)
        .await
        .expect("idempotent retry");
    assert_eq!(retried, written);

    let trip_2 = store.read_stream("trip-2").await.expect("read");
    assert_eq!(trip_2.len(), 3);
    assert_eq!(trip_2[2].id, taken.id);
    let trip_1 = store.read_stream("trip-1").await.expect("read");
    assert_eq!(trip_1.len(), 1);
    let with_id = whole_log(&store)
        .await
        .into_iter()
        .filter(|e| e.id == taken.id)
        .count();
    assert_eq!(with_id, 2, "stored once in each stream");
}

pub async fn global_log_is_ordered_and_filtered_by_stream_prefix<H: Harness>(harness: &H) {
    let store = harness.store();
    store
        .append("alpha-1", ExpectedRevision::Any, events("A", 2))
        .await
        .expect("append");
    store
        .append("beta-1", ExpectedRevision::Any, events("B", 1))
        .await
        .expect("append");
    store
        .append("alpha-2", ExpectedRevision::Any, events("A", 1))
        .await
        .expect("append");
    store
        .append("al_pha-3", ExpectedRevision::Any, events("X", 1))
        .await
        .expect("append");

    let all = whole_log(&store).await;
    let streams: Vec<&str> = all.iter().map(|e| e.stream.as_str()).collect();
    assert_eq!(
        streams,
        ["alpha-1", "alpha-1", "beta-1", "alpha-2", "al_pha-3"]
    );
    assert_strictly_increasing(&all);

    let alpha = store
        .read_all(None, &Filter::prefixes(["alpha-"]), 100)
        .await
        .expect("read");
    let streams: Vec<&str> = alpha.iter().map(|e| e.stream.as_str()).collect();
    assert_eq!(
        streams,
        ["alpha-1", "alpha-1", "alpha-2"],
        "the prefix is literal, not a pattern"
    );

    let after_first = store
        .read_all(Some(all[0].position), &Filter::all(), 2)
        .await
        .expect("read");
    assert_eq!(after_first, all[1..3].to_vec());
    let none_left = store
        .read_all(all.last().map(|e| e.position), &Filter::all(), 10)
        .await
        .expect("read");
    assert!(none_left.is_empty());
}

pub async fn subscription_catches_up_then_goes_live<H: Harness>(harness: &H) {
    let store = harness.store();
    store
        .append("feed-1", ExpectedRevision::Any, events("Old", 10))
        .await
        .expect("append");
    store
        .append("other-1", ExpectedRevision::Any, events("Other", 5))
        .await
        .expect("append");

    let mut subscription = store.subscribe(None, Filter::prefixes(["feed-"]));
    let mut seen = Vec::new();
    collect_until(&mut subscription, &mut seen, |s| s.len() >= 10).await;
    store
        .append("feed-2", ExpectedRevision::Any, events("New", 5))
        .await
        .expect("append");
    store
        .append("other-1", ExpectedRevision::Any, events("Other", 5))
        .await
        .expect("append");
    collect_until(&mut subscription, &mut seen, |s| s.len() >= 15).await;

    assert!(seen.iter().all(|e| e.stream.starts_with("feed-")));
    assert_strictly_increasing(&seen);
    let from_middle = store.subscribe(Some(seen[11].position), Filter::prefixes(["feed-"]));
    let mut rest = Vec::new();
    let mut from_middle = from_middle;
    collect_until(&mut from_middle, &mut rest, |s| s.len() >= 3).await;
    assert_eq!(
        rest,
        seen[12..].to_vec(),
        "resuming from a position starts right after it"
    );
}

pub async fn subscription_resumes_after_lost_connections<H: Harness>(harness: &H) {
    let store = harness.store();
    let total = 3000;
    let mut subscription = store.subscribe(None, Filter::all());
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut written = 0;
            while written < total {
                let batch = events("Tick", 10);
                // A lost connection leaves an append's outcome unknown: retrying the same
                // event ids is safe.
                loop {
                    match store
                        .append("tick-1", ExpectedRevision::Any, batch.clone())
                        .await
                    {
                        Ok(_) => break,
                        Err(StoreError::Unavailable(_) | StoreError::Backend(_)) => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Err(e) => panic!("append failed: {e:?}"),
                    }
                }
                written += 10;
            }
        })
    };
    let mut seen = Vec::new();
    for cut in [500, 1500, 2500] {
        collect_until(&mut subscription, &mut seen, |s| s.len() >= cut).await;
        harness.interrupt().await;
    }
    collect_until(&mut subscription, &mut seen, |s| s.len() >= total).await;
    writer.await.expect("writer");
    assert_exactly_once_in_order(&seen, total);

    // A new subscription from the last position seen delivers only what came after.
    let last = seen[total - 1].position;
    store
        .append("tick-1", ExpectedRevision::Any, events("Tock", 1))
        .await
        .expect("append");
    let mut resumed = store.subscribe(Some(last), Filter::all());
    let next = tokio::time::timeout(Duration::from_secs(30), resumed.next())
        .await
        .expect("resumed in time");
    assert_eq!(
        next.expect("an event").expect("no error").event_type,
        "Tock"
    );
}

fn assert_exactly_once_in_order(seen: &[RecordedEvent], expected: usize) {
    let unique: HashSet<Uuid> = seen.iter().map(|e| e.id).collect();
    assert_eq!(unique.len(), seen.len(), "an event was delivered twice");
    assert_eq!(seen.len(), expected, "events were lost or added");
    assert_strictly_increasing(seen);
}

/// The classic trap: a sequence hands out positions before the transactions that drew them
/// commit, so a naive reader passes a position that fills in later. Several writers append
/// concurrently (some sharing streams) while a live subscriber reads; every event must arrive
/// exactly once, in position order, with each stream's events in revision order.
pub async fn concurrent_writers_never_make_a_subscriber_skip<H: Harness>(harness: &H) {
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 2500;
    let store = harness.store();
    let mut subscription = store.subscribe(None, Filter::all());

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut written = 0;
                let mut n = 0usize;
                while written < PER_WRITER {
                    n += 1;
                    let size = (1 + n % 4).min(PER_WRITER - written);
                    // Half the appends go to streams shared by all writers, so per-stream
                    // ordering is tested under contention too.
                    let stream = if n.is_multiple_of(2) {
                        format!("shared-{}", n % 3)
                    } else {
                        format!("own-{w}")
                    };
                    store
                        .append(&stream, ExpectedRevision::Any, events("E", size))
                        .await
                        .expect("append");
                    written += size;
                }
            })
        })
        .collect();

    let mut seen = Vec::new();
    collect_until(&mut subscription, &mut seen, |s| {
        s.len() >= WRITERS * PER_WRITER
    })
    .await;
    for writer in writers {
        writer.await.expect("writer");
    }
    assert_exactly_once_in_order(&seen, WRITERS * PER_WRITER);
    let mut next_revision: HashMap<&str, u64> = HashMap::new();
    for event in &seen {
        let expected = next_revision.entry(event.stream.as_str()).or_default();
        assert_eq!(
            event.revision, *expected,
            "stream {} out of order in the global log",
            event.stream
        );
        *expected += 1;
    }
    assert_eq!(
        whole_log(&store).await,
        seen,
        "the subscription and a full read agree"
    );
}

/// Several subscriptions in one process, as a projector, its feed and a command API's
/// reactors hold them: one from the start that catches up while writers append, one live from
/// the head, one filtered, and one that reads nothing until every writer is done (so it falls
/// far behind the live log). Each must see exactly its events, once each, in log order.
pub async fn subscriptions_at_their_own_pace_each_see_their_events_once<H: Harness>(harness: &H) {
    const WRITERS: usize = 4;
    const PER_WRITER: usize = 1500;
    const HISTORY: usize = 300;
    let store = harness.store();
    store
        .append(
            "shared-history",
            ExpectedRevision::Any,
            events("E", HISTORY),
        )
        .await
        .expect("history");
    let head = whole_log(&store).await.last().map(|e| e.position);
    let mut from_start = store.subscribe(None, Filter::all());
    let mut live = store.subscribe(head, Filter::all());
    let mut filtered = store.subscribe(None, Filter::prefixes(["own-"]));
    let mut slow = store.subscribe(None, Filter::all());

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0..PER_WRITER {
                    // One event per append: as many wake-ups as events.
                    let stream = if n.is_multiple_of(3) {
                        format!("shared-{}", n % 2)
                    } else {
                        format!("own-{w}")
                    };
                    store
                        .append(&stream, ExpectedRevision::Any, vec![event("E", n)])
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    let total = HISTORY + WRITERS * PER_WRITER;
    let (mut all, mut tail, mut own) = (Vec::new(), Vec::new(), Vec::new());
    tokio::join!(
        collect_until(&mut from_start, &mut all, |s| s.len() >= total),
        collect_until(&mut live, &mut tail, |s| s.len() >= total - HISTORY),
        collect_until(&mut filtered, &mut own, |s| {
            s.len() >= WRITERS * (PER_WRITER - PER_WRITER.div_ceil(3))
        }),
    );
    for writer in writers {
        writer.await.expect("writer");
    }
    let mut behind = Vec::new();
    collect_until(&mut slow, &mut behind, |s| s.len() >= total).await;

    let log = whole_log(&store).await;
    assert_exactly_once_in_order(&all, total);
    assert_eq!(all, log, "from the start: the whole log");
    assert_eq!(behind, log, "far behind: the whole log too");
    assert_eq!(tail, log[HISTORY..], "live: everything after the head");
    let mine: Vec<RecordedEvent> = log
        .iter()
        .filter(|e| e.stream.starts_with("own-"))
        .cloned()
        .collect();
    assert_eq!(own, mine, "filtered: its streams' events only");
}
