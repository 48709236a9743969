//! Three trains with a small history whose analytics are worked out by hand:
//!
//! - Train 1, Chisinau-Bucuresti, departs 2024-09-25 06:30, 10 seats: bookings 101 (Sep 1
//!   12:00), 102 (Sep 2 12:00, cancelled Sep 2 15:00), 103 (Sep 24 12:00), 104 (Sep 26 08:00,
//!   after departure); 101 changes holder (not kept).
//! - Train 2, Iasi-Cluj, departs 2024-09-03 10:00, 4 seats: bookings 201 (Sep 1 10:00), 202
//!   (Sep 2 09:00); on Sep 2 10:00 it becomes Iasi-Cluj-Oradea departing Sep 4 10:00 with 6
//!   seats; then booking 203 (Sep 3 09:00).
//! - Train 3, Chisinau-Bucuresti, departs 2024-10-15 07:00, 5 seats: bookings 301 (Sep 1
//!   11:00), 302 (Sep 2 11:00); removed Sep 3 08:00, which cancels both.
//! - A lobby opens on train 1 (carries nothing for the warehouse).

use chrono::{DateTime, TimeZone, Utc};
use domain::{
    BookingCancelReason, BookingId, DomainEvent, LobbyEvent, LobbyId, Route, TrainDetails,
    TrainEvent, TrainId, TravelTime,
};
use event_store::{EventStore, ExpectedRevision, NewEvent, PgEventStore};

pub fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 9, day, hour, 0, 0)
        .single()
        .expect("a valid instant")
}

/// A train's details from its route and times as the API writes them.
pub fn details(route: &str, departure: &str, arrival: &str) -> TrainDetails {
    TrainDetails {
        route: Route::parse(route).expect("a valid route"),
        departure_time: TravelTime::parse(departure).expect("a valid time"),
        arrival_time: TravelTime::parse(arrival).expect("a valid time"),
    }
}

pub fn encode(event: impl Into<DomainEvent>) -> NewEvent {
    event_store::NewEvent::from(domain::encode(&event.into()))
}

/// A booking of one seat, made before seats and prices existed.
pub fn booked(train: i64, booking: i64, seats_left: u32, when: DateTime<Utc>) -> TrainEvent {
    TrainEvent::SeatBooked {
        order_id: None,
        train_id: TrainId(train),
        booking_id: BookingId(booking),
        user_credentials: format!("user-{booking}").into(),
        seat_count: 1,
        seats_left,
        seat: None,
        class: None,
        price: None,
        booked_at: when,
    }
}

fn cancelled(
    train: i64,
    booking: i64,
    reason: BookingCancelReason,
    seats_left: u32,
    when: DateTime<Utc>,
) -> TrainEvent {
    TrainEvent::BookingCancelled {
        order_id: None,
        train_id: TrainId(train),
        booking_id: BookingId(booking),
        reason,
        seats_left,
        cancelled_at: when,
    }
}

/// The scenario, per stream, in stream order.
pub fn streams() -> Vec<(String, Vec<NewEvent>)> {
    use BookingCancelReason::{Requested, TrainRemoved};
    let train1 = vec![
        TrainEvent::TrainRegistered {
            train_id: TrainId(1),
            details: details("Chisinau-Bucuresti", "2024-09-25T06:30", "2024-09-26T11:40"),
            capacity: 10,
            stops: Vec::new(),
            layout: None,
            tariff: None,
            registered_at: at(1, 8),
        },
        booked(1, 101, 9, at(1, 12)),
        booked(1, 102, 8, at(2, 12)),
        TrainEvent::BookingHolderChanged {
            train_id: TrainId(1),
            booking_id: BookingId(101),
            user_credentials: "someone else".into(),
            changed_at: at(2, 13),
        },
        cancelled(1, 102, Requested, 9, at(2, 15)),
        booked(1, 103, 8, at(24, 12)),
        booked(1, 104, 7, at(26, 8)),
    ];
    let train2 = vec![
        TrainEvent::TrainRegistered {
            train_id: TrainId(2),
            details: details("Iasi-Cluj", "2024-09-03T10:00", "2024-09-03T18:00"),
            capacity: 4,
            stops: Vec::new(),
            layout: None,
            tariff: None,
            registered_at: at(1, 9),
        },
        booked(2, 201, 3, at(1, 10)),
        booked(2, 202, 2, at(2, 9)),
        TrainEvent::TrainDetailsChanged {
            train_id: TrainId(2),
            details: details("Iasi-Cluj-Oradea", "2024-09-04T10:00", "2024-09-04T20:00"),
            capacity: 6,
            seats_left: 4,
            layout: None,
            changed_at: at(2, 10),
        },
        booked(2, 203, 3, at(3, 9)),
    ];
    let train3 = vec![
        TrainEvent::TrainRegistered {
            train_id: TrainId(3),
            details: details("Chisinau-Bucuresti", "2024-10-15T07:00", "2024-10-15T19:00"),
            capacity: 5,
            stops: Vec::new(),
            layout: None,
            tariff: None,
            registered_at: at(1, 10),
        },
        booked(3, 301, 4, at(1, 11)),
        booked(3, 302, 3, at(2, 11)),
        cancelled(3, 301, TrainRemoved, 4, at(3, 8)),
        cancelled(3, 302, TrainRemoved, 5, at(3, 8)),
        TrainEvent::TrainRemoved {
            train_id: TrainId(3),
            removed_at: at(3, 8),
        },
    ];
    let lobby = vec![LobbyEvent::LobbyOpened {
        lobby_id: LobbyId(1),
        train_id: TrainId(1),
        opened_at: at(1, 9),
    }];
    vec![
        (
            TrainId(1).stream(),
            train1.into_iter().map(encode).collect(),
        ),
        (
            TrainId(2).stream(),
            train2.into_iter().map(encode).collect(),
        ),
        (
            TrainId(3).stream(),
            train3.into_iter().map(encode).collect(),
        ),
        (
            TrainId(1).lobby_stream(),
            lobby.into_iter().map(encode).collect(),
        ),
    ]
}

/// Events in the scenario.
pub const EVENTS: i64 = 19;

/// Appends the scenario, a few events per append.
pub async fn write(store: &PgEventStore) {
    let mut written = 0;
    for (stream, events) in streams() {
        for chunk in events.chunks(3) {
            written += chunk.len();
            store
                .append(&stream, ExpectedRevision::Any, chunk.to_vec())
                .await
                .expect("append");
        }
    }
    assert_eq!(written as i64, EVENTS);
}

/// A report table's rows, written as string slices.
pub fn rows(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|row| row.iter().map(|cell| (*cell).to_owned()).collect())
        .collect()
}

/// `bookings_per_route_day` over the whole scenario, by day then route.
pub fn bookings_per_route_day() -> Vec<Vec<String>> {
    rows(&[
        &["Chisinau-Bucuresti", "2024-09-01", "2", "0"],
        &["Iasi-Cluj", "2024-09-01", "1", "0"],
        &["Chisinau-Bucuresti", "2024-09-02", "2", "1"],
        &["Iasi-Cluj", "2024-09-02", "1", "0"],
        &["Chisinau-Bucuresti", "2024-09-03", "0", "2"],
        &["Iasi-Cluj-Oradea", "2024-09-03", "1", "0"],
        &["Chisinau-Bucuresti", "2024-09-24", "1", "0"],
        &["Chisinau-Bucuresti", "2024-09-26", "1", "0"],
    ])
}

/// `load_factor_per_train`, by train.
pub fn load_factor_per_train() -> Vec<Vec<String>> {
    rows(&[
        &[
            "1",
            "Chisinau-Bucuresti",
            "2024-09-25 06:30:00",
            "10",
            "3",
            "7",
            "0.3000",
            "false",
        ],
        &[
            "2",
            "Iasi-Cluj-Oradea",
            "2024-09-04 10:00:00",
            "6",
            "3",
            "3",
            "0.5000",
            "false",
        ],
        &[
            "3",
            "Chisinau-Bucuresti",
            "2024-10-15 07:00:00",
            "5",
            "0",
            "5",
            "0.0000",
            "true",
        ],
    ])
}

/// `cancellation_rate_per_route`, by route.
pub fn cancellation_rate_per_route() -> Vec<Vec<String>> {
    rows(&[
        &["Chisinau-Bucuresti", "6", "1", "2", "0.5000"],
        &["Iasi-Cluj", "2", "0", "0", "0.0000"],
        &["Iasi-Cluj-Oradea", "1", "0", "0", "0.0000"],
    ])
}

/// `lead_time_distribution`: 104 after departure; 103 under a day; 201 (2 days), 202 and 203
/// (25 h each) 1-7 days; 101 and 102 (22-23 days) 7-30; 301 and 302 (42-43 days) 30-90.
pub fn lead_time_distribution() -> Vec<Vec<String>> {
    rows(&[
        &["after departure", "1", "0.1111"],
        &["under 1 day", "1", "0.1111"],
        &["1 to 7 days", "3", "0.3333"],
        &["7 to 30 days", "2", "0.2222"],
        &["30 to 90 days", "2", "0.2222"],
        &["90 days or more", "0", "0.0000"],
    ])
}

/// `top_routes` for 2024-09-01 to 2024-09-02.
pub fn top_routes_first_two_days() -> Vec<Vec<String>> {
    rows(&[
        &["1", "Chisinau-Bucuresti", "4", "1", "3"],
        &["2", "Iasi-Cluj", "2", "0", "2"],
    ])
}
