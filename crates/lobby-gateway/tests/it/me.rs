//! The user's own websocket, `/ws/me`: the steps of a user's orders, appended to the log here
//! as the command API would record them, reach each socket of their owner, and only theirs.
//! Tokens are signed with the stack's own keys, as a sign-in would sign them, for users the
//! tests name by id.

use crate::auth::upgrade;
use crate::support::{AUTH_SECRET, Server, Socket, Stack, close_frame, detail, next_json};
use auth::{AuthMode, AuthSecret, KeyRing, KeyRingSettings};
use chrono::{DateTime, TimeZone, Utc};
use domain::{
    BookingId, CancelledTicket, Currency, DomainEvent, HoldId, Money, OrderEvent, OrderId,
    PaymentId, PaymentToken, RefundId, Role, SeatClass, SeatId, Ticket, TicketCancelReason,
    TrainId, TravelTime, Traveller, UserId,
};
use event_store::{EventStore, ExpectedRevision, NewEvent};
use serde_json::{Value, json};

const PASSENGER: &str = "Ann Passenger";
const PAYMENT_TOKEN: &str = "tok_secret_4242";

/// A stack whose gateway requires tokens; `adjust` may change its settings further.
async fn secured(adjust: impl Fn(&mut lobby_gateway::Settings)) -> Stack {
    Stack::start(1, |settings| {
        settings.auth = AuthMode::Required;
        settings.auth_secret = AUTH_SECRET.to_owned();
        adjust(settings);
    })
    .await
}

/// An access token of user `user`, signed with the keys the stack's command API signs with.
async fn token(stack: &Stack, user: i64) -> String {
    let secret = AuthSecret::new(AUTH_SECRET.as_bytes()).expect("a secret");
    let ring = KeyRing::load(stack.pool.clone(), &secret, KeyRingSettings::default())
        .await
        .expect("the stack's keys");
    ring.issue(
        UserId(user),
        Role::Traveller,
        uuid::Uuid::now_v7(),
        Utc::now(),
    )
    .expect("a token")
}

/// `/ws/me` (or whatever `path` says) for the holder of `token`, past its welcome.
async fn me(gateway: &Server, path: &str, token: &str) -> (Socket, Value) {
    let mut socket = upgrade(gateway, path, Some(token))
        .await
        .expect("the upgrade is accepted");
    let welcome = next_json(&mut socket).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    (socket, welcome)
}

/// Appends `event` to its order's stream; the position it landed at, as messages write it.
async fn record(stack: &Stack, event: OrderEvent) -> String {
    let stream = event.order_id().stream();
    let new = NewEvent::from(domain::encode(&DomainEvent::Order(event)));
    let appended = stack
        .store
        .append(&stream, ExpectedRevision::Any, vec![new])
        .await
        .expect("append");
    appended.position.to_string()
}

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2099, 9, 1, 12, 0, 0)
        .single()
        .expect("a time")
}

fn eur(amount: i64) -> Money {
    Money {
        amount,
        currency: Currency::eur(),
    }
}

fn time(raw: &str) -> TravelTime {
    TravelTime::parse(raw).expect("a travel time")
}

/// One order of one user, and the events of its stream.
struct Order {
    id: OrderId,
    owner: UserId,
}

impl Order {
    fn new(id: &str, owner: i64) -> Self {
        Self {
            id: OrderId::parse(id).expect("an order id"),
            owner: UserId(owner),
        }
    }

    fn ticket(&self) -> Ticket {
        Ticket {
            ticket_id: BookingId(41),
            train_id: TrainId(7),
            hold_id: HoldId::parse("h-1").expect("a hold id"),
            seat: SeatId::parse("2-14").expect("a seat"),
            class: SeatClass::Second,
            amount: 4_500,
            passenger: Traveller::Named(PASSENGER.into()),
            departure: time("2099-09-25T06:30"),
        }
    }

    fn payment_requested(&self, n: u32) -> OrderEvent {
        OrderEvent::PaymentRequested {
            order_id: self.id.clone(),
            owner: self.owner,
            payment_id: PaymentId::new(&self.id, n),
            amount: eur(4_500),
            method: "card".into(),
            token: PaymentToken(PAYMENT_TOKEN.into()),
            requested_at: at(),
        }
    }

    fn payment_failed(&self, n: u32) -> OrderEvent {
        OrderEvent::PaymentFailed {
            order_id: self.id.clone(),
            owner: self.owner,
            payment_id: PaymentId::new(&self.id, n),
            provider_event_id: "evt_1".into(),
            failed_at: at(),
        }
    }

    fn payment_succeeded(&self, n: u32) -> OrderEvent {
        OrderEvent::PaymentSucceeded {
            order_id: self.id.clone(),
            owner: self.owner,
            payment_id: PaymentId::new(&self.id, n),
            amount: eur(4_500),
            provider_event_id: "evt_2".into(),
            tickets: vec![self.ticket()],
            succeeded_at: at(),
        }
    }

    fn expiry_warned(&self) -> OrderEvent {
        OrderEvent::ExpiryWarned {
            order_id: self.id.clone(),
            owner: self.owner,
            pay_by: at(),
            warned_at: at(),
        }
    }

    fn expired(&self) -> OrderEvent {
        OrderEvent::OrderExpired {
            order_id: self.id.clone(),
            owner: self.owner,
            expired_at: at(),
        }
    }

    fn tickets_issued(&self) -> OrderEvent {
        OrderEvent::TicketsIssued {
            order_id: self.id.clone(),
            owner: self.owner,
            train_id: TrainId(7),
            hold_id: HoldId::parse("h-1").expect("a hold id"),
            ticket_ids: vec![BookingId(41)],
            issued_at: at(),
        }
    }

    fn confirmed(&self) -> OrderEvent {
        OrderEvent::OrderConfirmed {
            order_id: self.id.clone(),
            owner: self.owner,
            tickets: vec![self.ticket()],
            confirmed_at: at(),
        }
    }

    fn rescheduled(&self) -> OrderEvent {
        OrderEvent::TrainRescheduled {
            order_id: self.id.clone(),
            owner: self.owner,
            train_id: TrainId(7),
            departure: time("2099-09-25T07:30"),
            arrival: time("2099-09-26T12:40"),
            rescheduled_at: at(),
        }
    }

    fn tickets_cancelled(&self) -> OrderEvent {
        OrderEvent::TicketsCancelled {
            order_id: self.id.clone(),
            owner: self.owner,
            tickets: vec![CancelledTicket {
                ticket_id: BookingId(41),
                train_id: TrainId(7),
                on_train: true,
                refund: 4_500,
            }],
            reason: TicketCancelReason::TrainRemoved,
            cancelled_at: at(),
        }
    }

    fn refund_requested(
        &self,
        n: u32,
        reason: TicketCancelReason,
        retry_of: Option<u32>,
    ) -> OrderEvent {
        OrderEvent::RefundRequested {
            order_id: self.id.clone(),
            owner: self.owner,
            refund_id: RefundId::new(&self.id, n),
            payment_id: PaymentId::new(&self.id, 1),
            amount: eur(4_500),
            reason,
            retry_of: retry_of.map(|n| RefundId::new(&self.id, n)),
            requested_at: at(),
        }
    }

    fn refund_failed(&self, n: u32) -> OrderEvent {
        OrderEvent::RefundFailed {
            order_id: self.id.clone(),
            owner: self.owner,
            refund_id: RefundId::new(&self.id, n),
            provider_event_id: "evt_3".into(),
            attempt: 1,
            retry_at: at(),
            failed_at: at(),
        }
    }

    fn refund_succeeded(&self, n: u32) -> OrderEvent {
        OrderEvent::RefundSucceeded {
            order_id: self.id.clone(),
            owner: self.owner,
            refund_id: RefundId::new(&self.id, n),
            amount: eur(4_500),
            provider_event_id: "evt_4".into(),
            succeeded_at: at(),
        }
    }
}

/// The keys a `/ws/me` message may have; none names a person or carries a credential.
const KEYS: &[&str] = &[
    "type",
    "order_id",
    "position",
    "payment_id",
    "refund_id",
    "amount",
    "currency",
    "tickets",
    "pay_by",
    "reason",
    "train_id",
    "departure",
    "arrival",
];

fn assert_nothing_personal(message: &Value) {
    let keys = message.as_object().expect("an object").keys();
    for key in keys {
        assert!(KEYS.contains(&key.as_str()), "unexpected {key}: {message}");
    }
    for ticket in message["tickets"].as_array().into_iter().flatten() {
        let mut keys: Vec<&str> = ticket
            .as_object()
            .expect("a ticket")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["amount", "class", "seat", "ticket_id", "train_id"],
            "{message}"
        );
    }
    let text = message.to_string();
    for secret in [
        PASSENGER,
        PAYMENT_TOKEN,
        "passenger",
        "name",
        "token",
        "owner",
    ] {
        assert!(!text.contains(secret), "{secret} in {message}");
    }
}

#[tokio::test]
async fn each_order_step_that_concerns_its_owner_arrives_once_with_its_fields_and_position() {
    let stack = secured(|_| {}).await;
    let ann = token(&stack, 1).await;
    let (mut socket, _) = me(stack.gateway(), "/ws/me", &ann).await;
    let (first, second) = (Order::new("o-1", 1), Order::new("o-2", 1));
    let mut expected = Vec::new();
    let at = record(&stack, first.payment_requested(1)).await;
    expected.push(
        json!({"type": "payment_pending", "order_id": "o-1", "position": at,
        "payment_id": "pay_1_o-1", "amount": 4500, "currency": "EUR"}),
    );
    let at = record(&stack, first.payment_failed(1)).await;
    expected.push(
        json!({"type": "payment_failed", "order_id": "o-1", "position": at,
        "payment_id": "pay_1_o-1"}),
    );
    let at = record(&stack, first.expiry_warned()).await;
    expected.push(
        json!({"type": "hold_expiring", "order_id": "o-1", "position": at,
        "pay_by": "2099-09-01T12:00:00Z"}),
    );
    let at = record(&stack, first.payment_requested(2)).await;
    expected.push(
        json!({"type": "payment_pending", "order_id": "o-1", "position": at,
        "payment_id": "pay_2_o-1", "amount": 4500, "currency": "EUR"}),
    );
    record(&stack, first.payment_succeeded(2)).await;
    record(&stack, first.tickets_issued()).await;
    let at = record(&stack, first.confirmed()).await;
    expected.push(
        json!({"type": "order_confirmed", "order_id": "o-1", "position": at,
        "tickets": [{"ticket_id": 41, "train_id": 7, "seat": "2-14", "class": "second",
            "amount": 4500}]}),
    );
    let at = record(&stack, first.rescheduled()).await;
    expected.push(
        json!({"type": "train_rescheduled", "order_id": "o-1", "position": at,
        "train_id": 7, "departure": "2099-09-25T07:30", "arrival": "2099-09-26T12:40"}),
    );
    record(&stack, first.tickets_cancelled()).await;
    let removed = TicketCancelReason::TrainRemoved;
    let at = record(&stack, first.refund_requested(1, removed, None)).await;
    expected.push(
        json!({"type": "order_refunded", "order_id": "o-1", "position": at,
        "reason": "train_removed", "amount": 4500, "currency": "EUR"}),
    );
    record(&stack, first.refund_failed(1)).await;
    record(&stack, first.refund_requested(2, removed, Some(1))).await;
    let at = record(&stack, first.refund_succeeded(2)).await;
    expected.push(
        json!({"type": "refund_issued", "order_id": "o-1", "position": at,
        "refund_id": "ref_2_o-1", "amount": 4500, "currency": "EUR"}),
    );
    for (n, reason, said) in [
        (3, TicketCancelReason::NotIssued, "not_issued"),
        (4, TicketCancelReason::OrderEnded, "order_ended"),
    ] {
        let at = record(&stack, second.refund_requested(n, reason, None)).await;
        expected.push(
            json!({"type": "order_refunded", "order_id": "o-2", "position": at,
            "reason": said, "amount": 4500, "currency": "EUR"}),
        );
    }
    let requested = TicketCancelReason::Requested;
    record(&stack, second.refund_requested(5, requested, None)).await;
    // The last: had any event before it that says nothing said something, it would show up
    // in the sequence.
    let at = record(&stack, second.expired()).await;
    expected.push(json!({"type": "order_expired", "order_id": "o-2", "position": at}));

    for want in expected {
        let got = next_json(&mut socket).await;
        assert_eq!(got, want);
        assert_nothing_personal(&got);
    }
}

#[tokio::test]
async fn another_users_order_steps_never_reach_a_socket() {
    let stack = secured(|_| {}).await;
    let (ann, bob) = (token(&stack, 1).await, token(&stack, 2).await);
    let (mut anns, _) = me(stack.gateway(), "/ws/me", &ann).await;
    let (mut bobs, _) = me(stack.gateway(), "/ls/ws/me", &bob).await;
    let (ann_order, bob_order) = (Order::new("ann-1", 1), Order::new("bob-1", 2));

    record(&stack, ann_order.payment_requested(1)).await;
    record(&stack, ann_order.confirmed()).await;
    let bobs_own = record(&stack, bob_order.expiry_warned()).await;
    let anns_last = record(&stack, ann_order.expired()).await;

    // Order is kept, so anything of Ann's would reach Bob before his own message.
    let first = next_json(&mut bobs).await;
    assert_eq!(
        (&first["type"], &first["order_id"], &first["position"]),
        (&json!("hold_expiring"), &json!("bob-1"), &json!(bobs_own))
    );
    let mut anns_messages = Vec::new();
    for _ in 0..3 {
        let message = next_json(&mut anns).await;
        assert_eq!(message["order_id"], "ann-1", "{message}");
        anns_messages.push(message);
    }
    let types: Vec<&Value> = anns_messages.iter().map(|m| &m["type"]).collect();
    assert_eq!(
        types,
        [
            &json!("payment_pending"),
            &json!("order_confirmed"),
            &json!("order_expired")
        ]
    );
    assert_eq!(anns_messages[2]["position"], json!(anns_last));
}

#[tokio::test]
async fn every_socket_of_a_user_gets_each_message() {
    let stack = secured(|_| {}).await;
    let ann = token(&stack, 1).await;
    let gateway = stack.gateway();
    let (mut phone, _) = me(gateway, "/ws/me", &ann).await;
    // A browser, which cannot set headers on an upgrade, under the lobby service's prefix.
    let mut laptop = upgrade(gateway, &format!("/ls/ws/me?access_token={ann}"), None)
        .await
        .expect("the upgrade is accepted");
    assert_eq!(next_json(&mut laptop).await["type"], "welcome");
    let order = Order::new("o-1", 1);
    let warned = record(&stack, order.expiry_warned()).await;
    let expired = record(&stack, order.expired()).await;
    for socket in [&mut phone, &mut laptop] {
        let first = next_json(socket).await;
        assert_eq!(
            (&first["type"], &first["position"]),
            (&json!("hold_expiring"), &json!(warned))
        );
        let second = next_json(socket).await;
        assert_eq!(
            (&second["type"], &second["position"]),
            (&json!("order_expired"), &json!(expired))
        );
    }
}

#[tokio::test]
async fn a_socket_reconnecting_after_a_position_gets_exactly_what_it_missed_then_live_ones() {
    let stack = secured(|_| {}).await;
    let ann = token(&stack, 1).await;
    let gateway = stack.gateway();
    let (order, other) = (Order::new("o-1", 1), Order::new("bob-1", 2));
    let (mut socket, _) = me(gateway, "/ws/me", &ann).await;
    let seen = record(&stack, order.payment_requested(1)).await;
    let missed_while_open = record(&stack, order.payment_failed(1)).await;
    assert_eq!(next_json(&mut socket).await["position"], json!(seen));
    drop(socket);

    // While away: one of Ann's, one that says nothing, and one of another user's.
    record(&stack, other.payment_requested(1)).await;
    record(&stack, order.payment_succeeded(2)).await;
    let missed_while_away = record(&stack, order.expiry_warned()).await;

    let path = format!("/ws/me?after={seen}&access_token={ann}");
    let mut socket = upgrade(gateway, &path, None)
        .await
        .expect("the upgrade is accepted");
    let welcome = next_json(&mut socket).await;
    assert_eq!(welcome, json!({"type": "welcome", "position": seen}));
    let replayed = [next_json(&mut socket).await, next_json(&mut socket).await];
    assert_eq!(
        replayed.iter().map(|m| &m["position"]).collect::<Vec<_>>(),
        [&json!(missed_while_open), &json!(missed_while_away)]
    );
    assert_eq!(
        (&replayed[0]["type"], &replayed[1]["type"]),
        (&json!("payment_failed"), &json!("hold_expiring"))
    );
    // Live ones follow, without repeating the replayed ones.
    let live = record(&stack, order.expired()).await;
    let next = next_json(&mut socket).await;
    assert_eq!(
        (&next["type"], &next["position"]),
        (&json!("order_expired"), &json!(live))
    );
}

#[tokio::test]
async fn a_socket_further_behind_than_a_replay_may_go_is_told_to_resync() {
    let stack = secured(|settings| settings.ws_replay_max = 2).await;
    let ann = token(&stack, 1).await;
    let (order, other) = (Order::new("o-1", 1), Order::new("bob-1", 2));
    // Stays connected throughout: once it has a message, the feed has fanned that event out,
    // so a socket that joins then replays up to it (a replay goes as far as the feed has come;
    // what is further comes live).
    let (mut watcher, _) = me(stack.gateway(), "/ws/me", &ann).await;
    let seen = record(&stack, order.payment_requested(1)).await;
    assert_eq!(next_json(&mut watcher).await["position"], json!(seen));
    // Other users' events do not count against the replay: only Ann's two do.
    for n in 1..=3 {
        record(&stack, other.payment_requested(n)).await;
    }
    let failed = record(&stack, order.payment_failed(1)).await;
    record(&stack, order.payment_succeeded(1)).await;
    let path = format!("/ws/me?after={seen}");
    let (mut back, _) = me(stack.gateway(), &path, &ann).await;
    assert_eq!(next_json(&mut back).await["position"], json!(failed));
    drop(back);

    let confirmed = record(&stack, order.confirmed()).await;
    let _ = next_json(&mut watcher).await;
    assert_eq!(next_json(&mut watcher).await["position"], json!(confirmed));
    let mut behind = upgrade(stack.gateway(), &path, Some(&ann))
        .await
        .expect("the upgrade is accepted");
    let (code, reason) = close_frame(&mut behind).await;
    assert_eq!((code, reason.as_str()), (1008, "resync"));
}

#[tokio::test]
async fn the_socket_refuses_the_upgrade_without_a_valid_token() {
    let stack = secured(|_| {}).await;
    let ann = token(&stack, 1).await;
    let gateway = stack.gateway();
    let refused = Some((401, Some("Bearer".to_owned())));
    for path in ["/ws/me", "/ls/ws/me"] {
        assert_eq!(upgrade(gateway, path, None).await.err(), refused, "{path}");
        assert_eq!(upgrade(gateway, path, Some("garbage")).await.err(), refused);
        let garbage = format!("{path}?access_token=garbage");
        assert_eq!(upgrade(gateway, &garbage, None).await.err(), refused);
        // Who asks comes before how: a plain request is refused as such, then as no upgrade.
        let plain = stack.client.get(gateway.url(path));
        let reply = stack.send(plain).await;
        assert_eq!(
            (reply.status, reply.body),
            (401, detail("Not authenticated"))
        );
        let plain = stack.client.get(gateway.url(path)).bearer_auth(&ann);
        assert_eq!(stack.send(plain).await.status, 400);
    }
}

#[tokio::test]
async fn with_auth_off_nobody_is_signed_in_so_the_upgrade_is_refused() {
    let stack = Stack::start(1, |_| {}).await;
    let gateway = stack.gateway();
    let refused = Some((401, Some("Bearer".to_owned())));
    for path in ["/ws/me", "/ls/ws/me"] {
        assert_eq!(upgrade(gateway, path, None).await.err(), refused, "{path}");
        assert_eq!(upgrade(gateway, path, Some("garbage")).await.err(), refused);
        let reply = stack.send(stack.client.get(gateway.url(path))).await;
        assert_eq!(
            (reply.status, reply.body),
            (401, detail("Not authenticated"))
        );
    }
}
