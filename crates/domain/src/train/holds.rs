//! Holds: seats set aside for one account for a while, at a price fixed when they were taken.
//!
//! A hold lives in its train's stream, beside the bookings, so one expected revision decides
//! every use of a seat. It ends when it is released, when the train is removed, or when its time
//! is up; the last is decided from each command's own time (a hold past `expires_at` frees its
//! seats for the next command), so no correctness depends on a sweeper recording it.

use super::{ActiveTrain, TrainError, TrainEvent};
use crate::{BookingId, Currency, Money, OrderId, Quote, SeatClass, SeatId, Ticket, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Most seats one hold may take.
pub const MAX_SEATS_PER_HOLD: usize = 9;

/// Identifies a hold: 1 to 64 letters, digits or dashes, chosen by the caller (a UUID in
/// practice), so a retried command keeps its id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HoldId(String);

/// A hold id that is not 1 to 64 letters, digits or dashes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a hold id is 1 to 64 letters, digits or dashes")]
pub struct BadHoldId;

impl HoldId {
    pub fn parse(raw: &str) -> Result<Self, BadHoldId> {
        let valid = (1..=64).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(BadHoldId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HoldId {
    type Error = BadHoldId;

    fn try_from(raw: String) -> Result<Self, BadHoldId> {
        Self::parse(&raw)
    }
}

impl From<HoldId> for String {
    fn from(id: HoldId) -> Self {
        id.0
    }
}

impl fmt::Display for HoldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which seats a hold asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatRequest {
    /// These seats, each of which must be free.
    Seats(Vec<SeatId>),
    /// `count` free seats of `class`, side by side where that is possible.
    Count { count: usize, class: SeatClass },
}

/// Why a hold ended before its time without being bought.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReleaseReason {
    /// Its owner (or an operator) let the seats go.
    Released,
    /// The train was removed from the schedule.
    TrainRemoved,
}

/// A hold that still keeps its seats, as the train's state knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub owner: UserId,
    pub seats: Vec<SeatId>,
    pub quote: Quote,
    pub expires_at: DateTime<Utc>,
    /// The order it waits for, once extended for one.
    pub order: Option<OrderId>,
}

impl Hold {
    /// Past its time at `at`: the boundary instant itself is past, so a hold of ten minutes
    /// made at noon keeps nothing at 12:10.
    pub fn expired_at(&self, at: DateTime<Utc>) -> bool {
        self.expires_at <= at
    }
}

/// Records the end of every hold past its time at `at`, then decides on the state that
/// follows, so a seat freed by time is free for this command and the log says why.
pub(super) fn after_expiry(
    train: &ActiveTrain,
    at: DateTime<Utc>,
    decide: impl FnOnce(&ActiveTrain) -> Result<Vec<TrainEvent>, TrainError>,
) -> Result<Vec<TrainEvent>, TrainError> {
    let mut events = expirations(train, at);
    if events.is_empty() {
        return decide(train);
    }
    let mut after = train.clone();
    for event in &events {
        if let TrainEvent::HoldExpired { hold_id, .. } = event {
            after.end_hold(hold_id);
        }
    }
    events.extend(decide(&after)?);
    Ok(events)
}

/// A `HoldExpired` for each hold past its time at `at`, oldest id first.
pub(super) fn expirations(train: &ActiveTrain, at: DateTime<Utc>) -> Vec<TrainEvent> {
    let mut seats_left = train.seats_left();
    train
        .holds
        .iter()
        .filter(|(_, hold)| hold.expired_at(at))
        .map(|(hold_id, hold)| {
            seats_left += count(&hold.seats);
            TrainEvent::HoldExpired {
                train_id: train.train_id,
                hold_id: hold_id.clone(),
                seats: hold.seats.clone(),
                seats_left,
                expired_at: at,
            }
        })
        .collect()
}

/// Sets seats aside for `owner` until `expires_at`, quoted at the occupancy before the hold.
/// Holds past their time were ended before this is asked.
pub(super) fn hold(
    train: &ActiveTrain,
    hold_id: HoldId,
    owner: UserId,
    request: SeatRequest,
    expires_at: DateTime<Utc>,
    max_holds: u32,
    at: DateTime<Utc>,
) -> Result<Vec<TrainEvent>, TrainError> {
    if let Some(existing) = train.holds.get(&hold_id) {
        // The same command again (a retry whose first try was recorded) changes nothing.
        return if existing.owner == owner {
            Ok(vec![])
        } else {
            Err(TrainError::HoldIdTaken)
        };
    }
    if train.departed(at) {
        return Err(TrainError::TrainDeparted);
    }
    let seats = chosen_seats(train, request)?;
    let owned = train.holds.values().filter(|h| h.owner == owner).count();
    if owned >= usize::try_from(max_holds).unwrap_or(usize::MAX) {
        return Err(TrainError::TooManyHolds);
    }
    let seats_left = train
        .seats_left()
        .checked_sub(count(&seats))
        .ok_or_else(|| TrainError::SeatsNotAvailable(Vec::new()))?;
    let classed: Vec<(SeatId, SeatClass)> = seats
        .iter()
        .filter_map(|seat| Some((seat.clone(), train.layout.class_of(seat)?)))
        .collect();
    let quote = train.tariff.quote(
        &classed,
        train.taken(),
        train.capacity(),
        at,
        train.details.departure_time.naive(),
    );
    Ok(vec![TrainEvent::SeatsHeld {
        train_id: train.train_id,
        hold_id,
        owner,
        seats,
        quote,
        expires_at,
        seats_left,
        held_at: at,
    }])
}

/// The seats a request names, checked to exist and be free, or picked among the free ones.
fn chosen_seats(train: &ActiveTrain, request: SeatRequest) -> Result<Vec<SeatId>, TrainError> {
    let asked = match &request {
        SeatRequest::Seats(seats) => seats.len(),
        SeatRequest::Count { count, .. } => *count,
    };
    if asked == 0 {
        return Err(TrainError::EmptyHold);
    }
    if asked > MAX_SEATS_PER_HOLD {
        return Err(TrainError::TooManySeats {
            max: MAX_SEATS_PER_HOLD,
        });
    }
    match request {
        SeatRequest::Seats(seats) => {
            for (index, seat) in seats.iter().enumerate() {
                if train.layout.class_of(seat).is_none() {
                    return Err(TrainError::UnknownSeat(seat.clone()));
                }
                if seats[..index].contains(seat) {
                    return Err(TrainError::SeatListedTwice(seat.clone()));
                }
            }
            let taken: Vec<SeatId> = seats
                .iter()
                .filter(|seat| !train.is_free(seat))
                .cloned()
                .collect();
            if taken.is_empty() {
                Ok(seats)
            } else {
                Err(TrainError::SeatsNotAvailable(taken))
            }
        }
        SeatRequest::Count { count, class } => train
            .layout
            .pick(class, count, |seat| train.is_free(seat))
            .ok_or_else(|| TrainError::SeatsNotAvailable(Vec::new())),
    }
}

/// Lets a live hold go. One already ended, or past its time at `at`, has nothing to let go.
pub(super) fn release(
    train: &ActiveTrain,
    hold_id: &HoldId,
    at: DateTime<Utc>,
) -> Result<Vec<TrainEvent>, TrainError> {
    let hold = train
        .holds
        .get(hold_id)
        .filter(|hold| !hold.expired_at(at))
        .ok_or(TrainError::HoldNotActive)?;
    if hold.order.is_some() {
        return Err(TrainError::HoldInOrder);
    }
    Ok(vec![released(train, hold_id, hold, at)])
}

fn released(train: &ActiveTrain, hold_id: &HoldId, hold: &Hold, at: DateTime<Utc>) -> TrainEvent {
    TrainEvent::HoldReleased {
        train_id: train.train_id,
        hold_id: hold_id.clone(),
        seats: hold.seats.clone(),
        reason: HoldReleaseReason::Released,
        seats_left: train.seats_left() + count(&hold.seats),
        released_at: at,
    }
}

/// Lets go of a live hold kept for `order_id`, when its order ends unpaid.
pub(super) fn release_for_order(
    train: &ActiveTrain,
    hold_id: &HoldId,
    order_id: &OrderId,
    at: DateTime<Utc>,
) -> Vec<TrainEvent> {
    train
        .holds
        .get(hold_id)
        .filter(|hold| hold.order.as_ref() == Some(order_id) && !hold.expired_at(at))
        .map(|hold| vec![released(train, hold_id, hold, at)])
        .unwrap_or_default()
}

/// Keeps a live hold of `owner` for `order_id` until `until`, or records why not. Holds past
/// their time were ended before this is asked.
pub(super) fn extend(
    train: &ActiveTrain,
    hold_id: HoldId,
    owner: UserId,
    order_id: OrderId,
    until: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Vec<TrainEvent> {
    let hold = train.holds.get(&hold_id).filter(|hold| {
        hold.owner == owner && hold.order.as_ref().is_none_or(|order| *order == order_id)
    });
    match hold {
        Some(hold) if hold.order.as_ref() == Some(&order_id) && hold.expires_at == until => {
            vec![]
        }
        Some(_) => vec![TrainEvent::HoldExtended {
            train_id: train.train_id,
            hold_id,
            order_id,
            expires_at: until,
            extended_at: at,
        }],
        None => vec![TrainEvent::HoldExtensionRefused {
            train_id: train.train_id,
            hold_id,
            order_id,
            refused_at: at,
        }],
    }
}

/// Turns a paid hold's seats into bookings, one per ticket. A hold that ended meanwhile (its
/// order paid late) has its seats taken again if none was taken since; otherwise, or on a
/// train that has left, the refusal is recorded. Holds past their time were ended before this
/// is asked. Tickets already booked (a repeat) record nothing.
pub(super) fn issue(
    train: &ActiveTrain,
    order_id: OrderId,
    hold_id: HoldId,
    tickets: Vec<Ticket>,
    currency: Currency,
    at: DateTime<Utc>,
) -> Result<Vec<TrainEvent>, TrainError> {
    let booked = |ticket: &Ticket| train.bookings.contains_key(&ticket.ticket_id);
    if tickets.iter().all(booked) {
        return Ok(vec![]);
    }
    // Ids are never reused; a clash means the allocator is broken.
    if tickets.iter().any(booked) {
        return Err(TrainError::BookingIdTaken);
    }
    let seats: Vec<SeatId> = tickets.iter().map(|t| t.seat.clone()).collect();
    let live = train
        .holds
        .get(&hold_id)
        .is_some_and(|hold| hold.order.as_ref() == Some(&order_id));
    let mut after = train.clone();
    if live {
        after.end_hold(&hold_id);
    }
    let taken: Vec<SeatId> = seats
        .iter()
        .filter(|seat| !after.is_free(seat) || after.layout.class_of(seat).is_none())
        .cloned()
        .collect();
    if !taken.is_empty() || train.departed(at) {
        return Ok(vec![TrainEvent::TicketsRefused {
            train_id: train.train_id,
            hold_id,
            order_id,
            taken,
            refused_at: at,
        }]);
    }
    let mut seats_left = after.seats_left();
    let mut events = vec![TrainEvent::OrderTicketsBooked {
        train_id: train.train_id,
        hold_id,
        order_id: order_id.clone(),
        ticket_ids: tickets.iter().map(|t| t.ticket_id).collect(),
        seats,
        hold_live: live,
        issued_at: at,
    }];
    for ticket in tickets {
        seats_left = seats_left.saturating_sub(1);
        events.push(TrainEvent::SeatBooked {
            train_id: train.train_id,
            booking_id: ticket.ticket_id,
            user_credentials: ticket.passenger,
            seat_count: 1,
            seats_left,
            seat: Some(ticket.seat),
            class: Some(ticket.class),
            price: Some(Money {
                amount: ticket.amount,
                currency: currency.clone(),
            }),
            order_id: Some(order_id.clone()),
            booked_at: at,
        });
    }
    Ok(events)
}

/// Gives back the seats of the tickets of `order_id` among `ticket_ids` still booked.
pub(super) fn cancel_order_tickets(
    train: &ActiveTrain,
    order_id: &OrderId,
    ticket_ids: &[BookingId],
    at: DateTime<Utc>,
) -> Vec<TrainEvent> {
    let mut seats_left = train.seats_left();
    ticket_ids
        .iter()
        .filter(|id| {
            train
                .bookings
                .get(id)
                .is_some_and(|booking| booking.order.as_ref() == Some(order_id))
        })
        .map(|&booking_id| {
            seats_left += 1;
            TrainEvent::BookingCancelled {
                train_id: train.train_id,
                booking_id,
                reason: super::BookingCancelReason::Requested,
                seats_left,
                order_id: Some(order_id.clone()),
                cancelled_at: at,
            }
        })
        .collect()
}

fn count(seats: &[SeatId]) -> u32 {
    u32::try_from(seats.len()).unwrap_or(u32::MAX)
}
