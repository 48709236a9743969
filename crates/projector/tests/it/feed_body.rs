//! The feed's message body as a consumer reads it: a batch, the older one-event shape, and a
//! batch with an event that cannot be read, which costs only that event.

use projector::feed::{FeedMessage, body, read_body};

fn event(n: u64) -> FeedMessage {
    FeedMessage {
        id: uuid::Uuid::now_v7(),
        stream: format!("train-{n}"),
        revision: n,
        position: event_store::Position::new(n, n),
        event_type: "LobbyOpened".into(),
        schema_version: 1,
        data: serde_json::json!({"n": n}),
        recorded_at: chrono::Utc::now(),
    }
}

fn read(data: &[u8]) -> Vec<Result<FeedMessage, Option<String>>> {
    read_body(data)
        .into_iter()
        .map(|event| event.map_err(|unreadable| unreadable.id))
        .collect()
}

#[test]
fn a_batch_reads_back_in_order() {
    let events = vec![event(1), event(2), event(3)];
    let data = body(&events).expect("json");
    assert_eq!(read(&data), events.into_iter().map(Ok).collect::<Vec<_>>());
}

#[test]
fn the_older_one_event_shape_still_reads() {
    let one = event(4);
    let data = serde_json::to_vec(&one).expect("json");
    assert_eq!(read(&data), vec![Ok(one)]);
}

#[test]
fn an_unreadable_event_costs_only_itself() {
    let (first, last) = (event(5), event(7));
    let data = serde_json::to_vec(&serde_json::json!([
        first,
        {"id": "not-an-event", "stream": 3},
        last,
    ]))
    .expect("json");
    assert_eq!(
        read(&data),
        vec![Ok(first), Err(Some("not-an-event".into())), Ok(last)]
    );
}

#[test]
fn a_body_that_is_no_json_is_one_unreadable_event() {
    assert_eq!(read(b"\x00garbage"), vec![Err(None)]);
}
