//! Stored event fixtures: the log is forever, so every event shape that was ever written must
//! still decode. Each file under `tests/fixtures/events` holds one event exactly as it was
//! stored, named `<type>.v<schema version>.json`; the file is the contract and is never
//! regenerated. A change that breaks one of these tests needs a new schema version, an upcaster
//! and a new fixture beside the old one, not an edited fixture.

use crate::{at, route, time};
use domain::{
    BookingCancelReason, BookingId, CancelledTicket, Coach, Currency, DecodeError, DomainEvent,
    EmailEvent, EmailKey, HoldId, HoldReleaseReason, Layout, LobbyCloseReason, LobbyEvent, LobbyId,
    Money, OrderCancelReason, OrderEvent, OrderHold, OrderId, PaymentId, PaymentToken, Quote,
    QuoteLine, RefundId, Role, Sealed, SeatClass, SeatId, Tariff, Ticket, TicketCancelReason,
    TrainDetails, TrainEvent, TrainId, Traveller, UserEvent, UserId,
};
use serde_json::json;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/events")
}

fn fixture_path(event_type: &str, version: u32) -> PathBuf {
    fixtures_dir().join(format!("{event_type}.v{version}.json"))
}

/// Every fixture file as (event type, schema version).
fn fixture_files() -> Vec<(String, u32)> {
    std::fs::read_dir(fixtures_dir())
        .expect("the fixtures directory exists")
        .map(|entry| entry.expect("a readable directory entry").file_name())
        .filter_map(|name| {
            let stem = name.to_str()?.strip_suffix(".json")?.to_owned();
            let (event_type, version) = stem.rsplit_once(".v")?;
            Some((event_type.to_owned(), version.parse().ok()?))
        })
        .collect()
}

/// The fixture of an event type as its current version stores it.
fn read_fixture(event_type: &str) -> serde_json::Value {
    let version = domain::current_version(event_type).expect("a known event type");
    read_fixture_version(event_type, version)
}

fn read_fixture_version(event_type: &str, version: u32) -> serde_json::Value {
    let path = fixture_path(event_type, version);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()))
}

/// Names the fixture of each event. No wildcard on purpose: a new event variant does not
/// compile here until someone gives it a sample and a fixture.
fn fixture_name(event: &DomainEvent) -> &'static str {
    match event {
        DomainEvent::Train(TrainEvent::TrainRegistered { .. }) => "TrainRegistered",
        DomainEvent::Train(TrainEvent::TrainDetailsChanged { .. }) => "TrainDetailsChanged",
        DomainEvent::Train(TrainEvent::SeatBooked { .. }) => "SeatBooked",
        DomainEvent::Train(TrainEvent::BookingHolderChanged { .. }) => "BookingHolderChanged",
        DomainEvent::Train(TrainEvent::BookingCancelled { .. }) => "BookingCancelled",
        DomainEvent::Train(TrainEvent::SeatsHeld { .. }) => "SeatsHeld",
        DomainEvent::Train(TrainEvent::HoldReleased { .. }) => "HoldReleased",
        DomainEvent::Train(TrainEvent::HoldExpired { .. }) => "HoldExpired",
        DomainEvent::Train(TrainEvent::HoldExtended { .. }) => "HoldExtended",
        DomainEvent::Train(TrainEvent::HoldExtensionRefused { .. }) => "HoldExtensionRefused",
        DomainEvent::Train(TrainEvent::OrderTicketsBooked { .. }) => "OrderTicketsBooked",
        DomainEvent::Train(TrainEvent::TicketsRefused { .. }) => "TicketsRefused",
        DomainEvent::Train(TrainEvent::TicketsRescheduled { .. }) => "TicketsRescheduled",
        DomainEvent::Train(TrainEvent::TrainRemoved { .. }) => "TrainRemoved",
        DomainEvent::Lobby(LobbyEvent::LobbyOpened { .. }) => "LobbyOpened",
        DomainEvent::Lobby(LobbyEvent::LobbyClosed { .. }) => "LobbyClosed",
        DomainEvent::User(UserEvent::UserRegistered { .. }) => "UserRegistered",
        DomainEvent::User(UserEvent::RoleChanged { .. }) => "RoleChanged",
        DomainEvent::User(UserEvent::PasswordChanged { .. }) => "PasswordChanged",
        DomainEvent::User(UserEvent::UserErased { .. }) => "UserErased",
        DomainEvent::Email(EmailEvent::EmailClaimed { .. }) => "EmailClaimed",
        DomainEvent::Email(EmailEvent::EmailReleased { .. }) => "EmailReleased",
        DomainEvent::Order(OrderEvent::OrderPlaced { .. }) => "OrderPlaced",
        DomainEvent::Order(OrderEvent::OrderCancelled { .. }) => "OrderCancelled",
        DomainEvent::Order(OrderEvent::ExpiryWarned { .. }) => "ExpiryWarned",
        DomainEvent::Order(OrderEvent::OrderExpired { .. }) => "OrderExpired",
        DomainEvent::Order(OrderEvent::PaymentRequested { .. }) => "PaymentRequested",
        DomainEvent::Order(OrderEvent::PaymentSucceeded { .. }) => "PaymentSucceeded",
        DomainEvent::Order(OrderEvent::PaymentFailed { .. }) => "PaymentFailed",
        DomainEvent::Order(OrderEvent::TicketsIssued { .. }) => "TicketsIssued",
        DomainEvent::Order(OrderEvent::IssueFailed { .. }) => "IssueFailed",
        DomainEvent::Order(OrderEvent::OrderConfirmed { .. }) => "OrderConfirmed",
        DomainEvent::Order(OrderEvent::TicketsCancelled { .. }) => "TicketsCancelled",
        DomainEvent::Order(OrderEvent::RefundRequested { .. }) => "RefundRequested",
        DomainEvent::Order(OrderEvent::RefundSucceeded { .. }) => "RefundSucceeded",
        DomainEvent::Order(OrderEvent::RefundFailed { .. }) => "RefundFailed",
        DomainEvent::Order(OrderEvent::TrainRescheduled { .. }) => "TrainRescheduled",
    }
}

/// The value each fixture file must decode to, one per event type.
fn samples() -> Vec<DomainEvent> {
    let train_id = TrainId(7);
    let booking_id = BookingId(42);
    let lobby_id = LobbyId(3);
    let user_id = UserId(11);
    let email_key =
        EmailKey("6b3a55e0261b0304143f805a24924d0c1c44524821305f31d9277843b8a10f4e".into());
    let profile = Sealed("AAECAwQFBgcICQoLzL8kQ1yCi0mZvU5BJ7V7vQ".into());
    let hold_id = hold();
    let mut events: Vec<DomainEvent> = vec![
        TrainEvent::TrainRegistered {
            train_id,
            details: TrainDetails {
                route: route("Chisinau-Bucuresti"),
                departure_time: time("2024-09-25T06:30"),
                arrival_time: time("2024-09-25T18:45"),
            },
            capacity: 120,
            // Registered before seats and prices: the shape every older train has.
            stops: Vec::new(),
            layout: None,
            tariff: None,
            registered_at: at(0),
        }
        .into(),
        TrainEvent::TrainDetailsChanged {
            train_id,
            details: TrainDetails {
                route: route("Chisinau-Iasi-Bucuresti"),
                departure_time: time("2024-09-25T07:00"),
                // Seconds are written only when given; this pins that form too.
                arrival_time: time("2024-09-25T19:15:30"),
            },
            capacity: 150,
            seats_left: 148,
            layout: None,
            changed_at: at(5),
        }
        .into(),
        TrainEvent::SeatBooked {
            order_id: None,
            train_id,
            booking_id,
            user_credentials: "alice@example.com".into(),
            seat_count: 1,
            seats_left: 119,
            seat: None,
            class: None,
            price: None,
            booked_at: at(10),
        }
        .into(),
        TrainEvent::BookingHolderChanged {
            train_id,
            booking_id,
            user_credentials: "bob@example.com".into(),
            changed_at: at(15),
        }
        .into(),
        TrainEvent::BookingCancelled {
            order_id: None,
            train_id,
            booking_id,
            reason: BookingCancelReason::TrainRemoved,
            seats_left: 120,
            cancelled_at: at(20),
        }
        .into(),
        TrainEvent::SeatsHeld {
            train_id,
            hold_id: hold_id.clone(),
            owner: user_id,
            seats: vec![seat("2-14"), seat("2-15")],
            quote: Quote {
                total: 3450,
                currency: Currency::eur(),
                lines: vec![
                    QuoteLine {
                        seat: seat("2-14"),
                        class: SeatClass::Second,
                        amount: 1725,
                    },
                    QuoteLine {
                        seat: seat("2-15"),
                        class: SeatClass::Second,
                        amount: 1725,
                    },
                ],
            },
            expires_at: at(22),
            seats_left: 117,
            held_at: at(12),
        }
        .into(),
        TrainEvent::HoldReleased {
            train_id,
            hold_id: hold_id.clone(),
            seats: vec![seat("2-14"), seat("2-15")],
            reason: HoldReleaseReason::Released,
            seats_left: 119,
            released_at: at(14),
        }
        .into(),
        TrainEvent::HoldExpired {
            train_id,
            hold_id,
            seats: vec![seat("2-14"), seat("2-15")],
            seats_left: 119,
            expired_at: at(22),
        }
        .into(),
        TrainEvent::TrainRemoved {
            train_id,
            removed_at: at(20),
        }
        .into(),
    ];
    events.extend(train_order_samples());
    events.extend([
        LobbyEvent::LobbyOpened {
            lobby_id,
            train_id,
            opened_at: at(1),
        }
        .into(),
        LobbyEvent::LobbyClosed {
            lobby_id,
            train_id,
            reason: LobbyCloseReason::TrainRemoved,
            closed_at: at(20),
        }
        .into(),
        UserEvent::UserRegistered {
            user_id,
            email_key: email_key.clone(),
            profile: profile.clone(),
            role: Role::Traveller,
            registered_at: at(0),
        }
        .into(),
        UserEvent::RoleChanged {
            user_id,
            role: Role::Admin,
            changed_at: at(5),
        }
        .into(),
        UserEvent::PasswordChanged {
            user_id,
            changed_at: at(10),
        }
        .into(),
        UserEvent::UserErased {
            user_id,
            email_key: email_key.clone(),
            bookings: Vec::new(),
            erased_at: at(20),
        }
        .into(),
        EmailEvent::EmailClaimed {
            email_key: email_key.clone(),
            user_id,
            profile,
            role: Role::Traveller,
            claimed_at: at(0),
        }
        .into(),
        EmailEvent::EmailReleased {
            email_key,
            user_id,
            released_at: at(20),
        }
        .into(),
    ]);
    events.extend(order_samples());
    events
}

/// The train's side of an order: its hold kept, its seats booked or refused, its trains moved.
fn train_order_samples() -> Vec<DomainEvent> {
    let train_id = TrainId(7);
    let hold_id = hold();
    let order_id = order();
    vec![
        TrainEvent::HoldExtended {
            train_id,
            hold_id: hold_id.clone(),
            order_id: order_id.clone(),
            expires_at: at(45),
            extended_at: at(13),
        }
        .into(),
        TrainEvent::HoldExtensionRefused {
            train_id,
            hold_id: hold_id.clone(),
            order_id: order_id.clone(),
            refused_at: at(13),
        }
        .into(),
        TrainEvent::OrderTicketsBooked {
            train_id,
            hold_id: hold_id.clone(),
            order_id: order_id.clone(),
            ticket_ids: vec![BookingId(42), BookingId(43)],
            seats: vec![seat("2-14"), seat("2-15")],
            hold_live: true,
            issued_at: at(16),
        }
        .into(),
        TrainEvent::TicketsRefused {
            train_id,
            hold_id,
            order_id: order_id.clone(),
            taken: vec![seat("2-15")],
            refused_at: at(50),
        }
        .into(),
        TrainEvent::TicketsRescheduled {
            train_id,
            order_id,
            departure: time("2024-09-25T07:00"),
            arrival: time("2024-09-25T19:15"),
            rescheduled_at: at(30),
        }
        .into(),
    ]
}

/// An order of two seats of one hold, paid, issued, one ticket given back, and each
/// compensation beside them.
fn order_samples() -> Vec<DomainEvent> {
    let order_id = order();
    let owner = UserId(11);
    let payment_id = PaymentId::new(&order_id, 1);
    let train_id = TrainId(7);
    let eur = |amount| Money {
        amount,
        currency: Currency::eur(),
    };
    vec![
        OrderEvent::OrderPlaced {
            order_id: order_id.clone(),
            owner,
            tickets: tickets(),
            total: eur(3450),
            pay_by: at(45),
            placed_at: at(13),
        }
        .into(),
        OrderEvent::OrderCancelled {
            order_id: order_id.clone(),
            owner,
            reason: OrderCancelReason::HoldLost,
            holds: vec![OrderHold {
                train_id,
                hold_id: hold(),
            }],
            cancelled_at: at(13),
        }
        .into(),
        OrderEvent::ExpiryWarned {
            order_id: order_id.clone(),
            owner,
            pay_by: at(45),
            warned_at: at(40),
        }
        .into(),
        OrderEvent::OrderExpired {
            order_id: order_id.clone(),
            owner,
            expired_at: at(45),
        }
        .into(),
        OrderEvent::PaymentRequested {
            order_id: order_id.clone(),
            owner,
            payment_id: payment_id.clone(),
            amount: eur(3450),
            method: "card".into(),
            token: PaymentToken("tok_visa_4242".into()),
            requested_at: at(14),
        }
        .into(),
        OrderEvent::PaymentSucceeded {
            order_id: order_id.clone(),
            owner,
            payment_id: payment_id.clone(),
            amount: eur(3450),
            provider_event_id: "evt_0001".into(),
            tickets: tickets(),
            succeeded_at: at(15),
        }
        .into(),
        OrderEvent::PaymentFailed {
            order_id: order_id.clone(),
            owner,
            payment_id: payment_id.clone(),
            provider_event_id: "evt_0002".into(),
            failed_at: at(15),
        }
        .into(),
        OrderEvent::TicketsIssued {
            order_id: order_id.clone(),
            owner,
            train_id,
            hold_id: hold(),
            ticket_ids: vec![BookingId(42), BookingId(43)],
            issued_at: at(16),
        }
        .into(),
        OrderEvent::IssueFailed {
            order_id: order_id.clone(),
            owner,
            train_id,
            hold_id: hold(),
            failed_at: at(16),
        }
        .into(),
        OrderEvent::OrderConfirmed {
            order_id: order_id.clone(),
            owner,
            tickets: tickets(),
            confirmed_at: at(16),
        }
        .into(),
        OrderEvent::TicketsCancelled {
            order_id: order_id.clone(),
            owner,
            tickets: vec![CancelledTicket {
                ticket_id: BookingId(43),
                train_id,
                on_train: true,
                refund: 1725,
            }],
            reason: TicketCancelReason::Requested,
            cancelled_at: at(20),
        }
        .into(),
        OrderEvent::RefundRequested {
            order_id: order_id.clone(),
            owner,
            refund_id: RefundId::new(&order_id, 2),
            payment_id,
            amount: eur(1725),
            reason: TicketCancelReason::Requested,
            retry_of: Some(RefundId::new(&order_id, 1)),
            requested_at: at(21),
        }
        .into(),
        OrderEvent::RefundSucceeded {
            order_id: order_id.clone(),
            owner,
            refund_id: RefundId::new(&order_id, 2),
            amount: eur(1725),
            provider_event_id: "evt_0004".into(),
            succeeded_at: at(22),
        }
        .into(),
        OrderEvent::RefundFailed {
            order_id: order_id.clone(),
            owner,
            refund_id: RefundId::new(&order_id, 1),
            provider_event_id: "evt_0003".into(),
            attempt: 1,
            retry_at: at(20) + chrono::TimeDelta::seconds(30),
            failed_at: at(20),
        }
        .into(),
        OrderEvent::TrainRescheduled {
            order_id,
            owner,
            train_id,
            departure: time("2024-09-25T07:00"),
            arrival: time("2024-09-25T19:15"),
            rescheduled_at: at(30),
        }
        .into(),
    ]
}

fn order() -> OrderId {
    OrderId::parse("0193a8f2-7c1e-7d3a-9b1f-2a4c6e8f0a1b").expect("an order id")
}

fn hold() -> HoldId {
    HoldId::parse("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b").expect("a hold id")
}

/// The two tickets of the sample order, each for a traveller of the owner's account, so
/// their names are sealed.
fn tickets() -> Vec<Ticket> {
    let ticket = |ticket_id, raw_seat: &str, name: &str, tag: &str| Ticket {
        ticket_id: BookingId(ticket_id),
        train_id: TrainId(7),
        hold_id: hold(),
        seat: seat(raw_seat),
        class: SeatClass::Second,
        amount: 1725,
        passenger: Traveller::Owned {
            owner: UserId(11),
            name: Sealed(name.into()),
            tag: tag.into(),
        },
        departure: time("2024-09-25T06:30"),
    };
    vec![
        ticket(
            42,
            "2-14",
            "AAECAwQFBgcICQoLc2VhbGVkLWFubg",
            "9f86d081884c7d65",
        ),
        ticket(
            43,
            "2-15",
            "AAECAwQFBgcICQoLc2VhbGVkLWJlbg",
            "60303ae22b998861",
        ),
    ]
}

fn seat(raw: &str) -> SeatId {
    SeatId::parse(raw).expect("a valid seat")
}

/// The fields seats and prices added to older event types are optional, so the fixtures above
/// keep the older shape; this pins the shape they take when present.
#[test]
fn seats_and_prices_are_stored_in_their_own_fields() {
    let registered = TrainEvent::TrainRegistered {
        train_id: TrainId(7),
        details: TrainDetails {
            route: route("Chisinau-Iasi-Bucuresti"),
            departure_time: time("2024-09-25T06:30"),
            arrival_time: time("2024-09-25T18:45"),
        },
        capacity: 3,
        stops: vec!["Chisinau".into(), "Iasi".into(), "Bucuresti".into()],
        layout: Some(
            Layout::new(vec![Coach {
                coach: "1".into(),
                class: SeatClass::First,
                seat_count: 3,
            }])
            .expect("a valid layout"),
        ),
        tariff: Some(Tariff {
            demand: Vec::new(),
            lead: Vec::new(),
            ..Tariff::new(Currency::eur(), 2500, 1500)
        }),
        registered_at: at(0),
    };
    let stored = json!({
        "type": "TrainRegistered", "train_id": 7, "route": "Chisinau-Iasi-Bucuresti",
        "departure_time": "2024-09-25T06:30", "arrival_time": "2024-09-25T18:45",
        "capacity": 3, "stops": ["Chisinau", "Iasi", "Bucuresti"],
        "layout": [{"coach": "1", "class": "first", "seat_count": 3}],
        "tariff": {"currency": "EUR", "first": 2500, "second": 1500, "demand": [], "lead": []},
        "registered_at": "2024-09-01T12:00:00Z"
    });
    let booked = TrainEvent::SeatBooked {
        order_id: None,
        train_id: TrainId(7),
        booking_id: BookingId(42),
        user_credentials: "alice@example.com".into(),
        seat_count: 1,
        seats_left: 2,
        seat: Some(seat("1-1")),
        class: Some(SeatClass::First),
        price: Some(Money {
            amount: 2500,
            currency: Currency::eur(),
        }),
        booked_at: at(10),
    };
    let stored_booking = json!({
        "type": "SeatBooked", "train_id": 7, "booking_id": 42,
        "user_credentials": "alice@example.com", "seat_count": 1, "seats_left": 2,
        "seat": "1-1", "class": "first", "price": {"amount": 2500, "currency": "EUR"},
        "booked_at": "2024-09-01T12:10:00Z"
    });
    stored_as(registered, stored);
    stored_as(booked, stored_booking);
}

/// `event` encodes to exactly `json`, and `json` decodes back to it.
#[track_caller]
fn stored_as(event: impl Into<DomainEvent>, json: serde_json::Value) {
    let event = event.into();
    assert_eq!(event.encode(), json);
    let decoded = DomainEvent::decode(event.event_type(), event.schema_version(), json);
    assert_eq!(decoded.ok(), Some(event));
}

/// `order_id` came to bookings with orders and is omitted when absent, so the fixtures above
/// keep the older shape; this pins the shape a ticket's booking and its cancellation take.
#[test]
fn a_tickets_booking_and_its_cancellation_name_their_order() {
    let booked = TrainEvent::SeatBooked {
        train_id: TrainId(7),
        booking_id: BookingId(42),
        user_credentials: tickets()[0].passenger.clone(),
        seat_count: 1,
        seats_left: 117,
        seat: Some(seat("2-14")),
        class: Some(SeatClass::Second),
        price: Some(Money {
            amount: 1725,
            currency: Currency::eur(),
        }),
        order_id: Some(order()),
        booked_at: at(16),
    };
    let stored_booking = json!({
        "type": "SeatBooked", "train_id": 7, "booking_id": 42,
        "user_credentials": {
            "owner": 11, "name": "AAECAwQFBgcICQoLc2VhbGVkLWFubg", "tag": "9f86d081884c7d65"
        },
        "seat_count": 1, "seats_left": 117, "seat": "2-14", "class": "second",
        "price": {"amount": 1725, "currency": "EUR"},
        "order_id": "0193a8f2-7c1e-7d3a-9b1f-2a4c6e8f0a1b",
        "booked_at": "2024-09-01T12:16:00Z"
    });
    let cancelled = TrainEvent::BookingCancelled {
        train_id: TrainId(7),
        booking_id: BookingId(42),
        reason: BookingCancelReason::Requested,
        seats_left: 118,
        order_id: Some(order()),
        cancelled_at: at(20),
    };
    let stored_cancellation = json!({
        "type": "BookingCancelled", "train_id": 7, "booking_id": 42, "reason": "requested",
        "seats_left": 118, "order_id": "0193a8f2-7c1e-7d3a-9b1f-2a4c6e8f0a1b",
        "cancelled_at": "2024-09-01T12:20:00Z"
    });
    stored_as(booked, stored_booking);
    stored_as(cancelled, stored_cancellation);
}

/// The fixture's refund retries a failed one; a first refund leaves `retry_of` out.
#[test]
fn a_first_refund_is_stored_without_retry_of() {
    let order_id = order();
    let first = OrderEvent::RefundRequested {
        order_id: order_id.clone(),
        owner: UserId(11),
        refund_id: RefundId::new(&order_id, 1),
        payment_id: PaymentId::new(&order_id, 1),
        amount: Money {
            amount: 3450,
            currency: Currency::eur(),
        },
        reason: TicketCancelReason::NotIssued,
        retry_of: None,
        requested_at: at(17),
    };
    let stored = json!({
        "type": "RefundRequested", "order_id": "0193a8f2-7c1e-7d3a-9b1f-2a4c6e8f0a1b",
        "owner": 11, "refund_id": "ref_1_0193a8f2-7c1e-7d3a-9b1f-2a4c6e8f0a1b",
        "payment_id": "pay_1_0193a8f2-7c1e-7d3a-9b1f-2a4c6e8f0a1b",
        "amount": {"amount": 3450, "currency": "EUR"}, "reason": "not_issued",
        "requested_at": "2024-09-01T12:17:00Z"
    });
    stored_as(first, stored);
}

/// Every stored version, old ones through their upcasters, reads as today's event.
#[test]
fn every_fixture_decodes_to_its_expected_event() {
    let samples = samples();
    for (event_type, version) in fixture_files() {
        let expected = samples
            .iter()
            .find(|e| e.event_type() == event_type)
            .unwrap_or_else(|| panic!("{event_type}.v{version}.json belongs to no event type"));
        let decoded = DomainEvent::decode(
            &event_type,
            version,
            read_fixture_version(&event_type, version),
        )
        .unwrap_or_else(|error| panic!("{event_type}.v{version}.json no longer decodes: {error}"));
        assert_eq!(
            &decoded, expected,
            "{event_type}.v{version}.json decoded to another value"
        );
    }
}

#[test]
fn a_version_one_booking_is_upcast_to_a_one_seat_booking() {
    let v1 = read_fixture_version("SeatBooked", 1);
    assert!(
        v1.get("seat_count").is_none(),
        "the v1 fixture predates seat_count"
    );
    let decoded = DomainEvent::decode("SeatBooked", 1, v1).expect("v1 decodes");
    assert!(matches!(
        decoded,
        DomainEvent::Train(TrainEvent::SeatBooked { seat_count: 1, .. })
    ));
}

#[test]
fn every_event_encodes_to_exactly_its_stored_fixture() {
    for event in samples() {
        let event_type = event.event_type();
        assert_eq!(
            event.encode(),
            read_fixture(event_type),
            "{event_type} is now stored differently"
        );
    }
}

#[test]
fn every_event_type_has_a_fixture_file() {
    let samples = samples();
    for event in &samples {
        let event_type = event.event_type();
        assert_eq!(
            event_type,
            fixture_name(event),
            "the type name of a stored event changed"
        );
        assert!(
            fixture_path(event_type, event.schema_version()).is_file(),
            "{event_type} has no fixture file for its current version"
        );
    }
    let sampled: BTreeSet<&str> = samples.iter().map(DomainEvent::event_type).collect();
    assert_eq!(sampled.len(), samples.len(), "one sample per event type");
    let files: BTreeSet<String> = fixture_files().into_iter().map(|(t, _)| t).collect();
    let sampled: BTreeSet<String> = sampled.into_iter().map(str::to_owned).collect();
    assert_eq!(
        files, sampled,
        "every fixture file belongs to exactly one event type"
    );
}

#[test]
fn no_fixture_is_newer_than_its_types_current_version() {
    for (event_type, version) in fixture_files() {
        let current = domain::current_version(&event_type).expect("a known event type");
        assert!(
            version <= current,
            "{event_type}.v{version}.json is from the future"
        );
    }
}

#[test]
fn decoding_an_unknown_event_type_is_an_error() {
    let decoded = DomainEvent::decode("TrainTeleported", 1, read_fixture("TrainRemoved"));
    assert!(matches!(decoded, Err(DecodeError::UnknownType(name)) if name == "TrainTeleported"));
}

#[test]
fn decoding_schema_version_zero_is_an_error() {
    let decoded = DomainEvent::decode("TrainRemoved", 0, read_fixture("TrainRemoved"));
    assert!(matches!(
        decoded,
        Err(DecodeError::UnsupportedVersion { version: 0, .. })
    ));
}

#[test]
fn decoding_a_schema_version_from_the_future_is_an_error() {
    let decoded = DomainEvent::decode("SeatBooked", 3, read_fixture("SeatBooked"));
    assert!(matches!(
        decoded,
        Err(DecodeError::UnsupportedVersion { version: 3, .. })
    ));
}

#[test]
fn decoding_a_train_event_under_a_lobby_type_is_malformed() {
    let decoded = DomainEvent::decode("LobbyOpened", 1, read_fixture("TrainRemoved"));
    assert!(matches!(decoded, Err(DecodeError::Malformed { .. })));
}

#[test]
fn decoding_an_event_missing_a_field_is_malformed() {
    let mut data = read_fixture("SeatBooked");
    if let Some(fields) = data.as_object_mut() {
        fields.remove("seats_left");
    }
    let decoded = DomainEvent::decode("SeatBooked", 1, data);
    assert!(matches!(decoded, Err(DecodeError::Malformed { .. })));
}

/// Only some reasons appear in a fixture; every reason is pinned here.
#[test]
fn reasons_are_stored_in_snake_case() {
    use serde_json::{json, to_value};
    assert_eq!(
        to_value(BookingCancelReason::Requested).ok(),
        Some(json!("requested"))
    );
    assert_eq!(
        to_value(BookingCancelReason::TrainRemoved).ok(),
        Some(json!("train_removed"))
    );
    assert_eq!(
        to_value(LobbyCloseReason::Deleted).ok(),
        Some(json!("deleted"))
    );
    assert_eq!(
        to_value(LobbyCloseReason::TrainRemoved).ok(),
        Some(json!("train_removed"))
    );
    assert_eq!(
        to_value(OrderCancelReason::Requested).ok(),
        Some(json!("requested"))
    );
    for (reason, stored) in [
        (TicketCancelReason::Requested, "requested"),
        (TicketCancelReason::TrainRemoved, "train_removed"),
        (TicketCancelReason::NotIssued, "not_issued"),
        (TicketCancelReason::OrderEnded, "order_ended"),
    ] {
        assert_eq!(to_value(reason).ok(), Some(json!(stored)));
    }
}

#[test]
fn decoding_data_under_another_type_name_is_an_error() {
    let decoded = DomainEvent::decode("SeatBooked", 1, read_fixture("TrainRemoved"));
    assert!(matches!(decoded, Err(DecodeError::TypeMismatch { .. })));
}
