//! The train decider: every business rule about a train, and the refusals they give.
//!
//! Rules read the state and the command and answer with events or a [`TrainError`]; nothing here
//! changes state, which is `evolve`'s job in `state`.

use super::{
    ActiveTrain, BookingCancelReason, HoldReleaseReason, TrainCommand, TrainDetails, TrainEvent,
    TrainState, TrainUpdate, Traveller, holds, state,
};
use crate::{BookingId, Decider, Layout, Money, OrderId, SeatCount, SeatId};
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;

/// The train decider.
pub struct Train;

/// A business refusal. Never wraps infrastructure errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrainError {
    #[error("Train not found")]
    TrainNotFound,
    #[error("Train already exists")]
    TrainAlreadyExists,
    #[error("Booking not found")]
    BookingNotFound,
    #[error("Departure time must be before arrival time")]
    DepartureNotBeforeArrival,
    #[error("time must be between 2000-01-01T00:00 and 2099-12-31T23:59")]
    TravelTimeOutOfRange { field: &'static str },
    #[error("No seats left")]
    NoSeatsLeft,
    #[error("User already has a booking for this train")]
    DuplicateBooking,
    #[error("user_credentials must be between 1 and {max} characters")]
    InvalidUserCredentials { max: usize },
    #[error("Booking id is already taken")]
    BookingIdTaken,
    #[error("Booked seats exceed the maximum capacity")]
    CapacityExceeded,
    /// A new traveller of another account (or of none) for an account's booking.
    #[error("A booking keeps its owner")]
    OwnerChange,
    #[error("coaches must hold exactly available_seats seats")]
    LayoutMismatch,
    /// A traveller's booking of a priced train without a hold and an order.
    #[error("Payment required: hold seats and place an order")]
    PaymentRequired,
    #[error("Train has departed")]
    TrainDeparted,
    #[error("Too many active holds")]
    TooManyHolds,
    /// Some of the seats asked for are booked or held: these ones (none named when a number of
    /// seats of a class was asked for).
    #[error("Seats not available")]
    SeatsNotAvailable(Vec<SeatId>),
    #[error("seat {0} is not on this train")]
    UnknownSeat(SeatId),
    #[error("seat {0} is listed twice")]
    SeatListedTwice(SeatId),
    #[error("a hold takes at least one seat")]
    EmptyHold,
    #[error("a hold takes at most {max} seats")]
    TooManySeats { max: usize },
    /// Released, expired or bought: nothing left to let go.
    #[error("Hold is no longer active")]
    HoldNotActive,
    #[error("Hold id is already taken")]
    HoldIdTaken,
    /// A hold kept for an order goes with its order, never alone.
    #[error("Hold belongs to an order; cancel the order instead")]
    HoldInOrder,
    /// Fewer seats would take away these seats, which are booked or held.
    #[error("Seats in use cannot be removed")]
    SeatsInUse(Vec<SeatId>),
}

/// Longest user credential we store.
pub const MAX_USER_CREDENTIALS: usize = 100;

/// Trims and bounds a traveller's credentials (1 to 100 characters).
pub fn user_credentials(raw: &str) -> Result<String, TrainError> {
    let trimmed = raw.trim();
    let chars = trimmed.chars().count();
    if chars == 0 || chars > MAX_USER_CREDENTIALS {
        return Err(TrainError::InvalidUserCredentials {
            max: MAX_USER_CREDENTIALS,
        });
    }
    Ok(trimmed.to_owned())
}

/// A named traveller's name bounded as [`user_credentials`]; an account's sealed name was
/// bounded before it was sealed.
fn traveller(traveller: Traveller) -> Result<Traveller, TrainError> {
    match traveller {
        Traveller::Named(name) => Ok(Traveller::Named(user_credentials(&name)?)),
        owned @ Traveller::Owned { .. } => Ok(owned),
    }
}

fn check_times(details: &TrainDetails) -> Result<(), TrainError> {
    for (field, time) in [
        ("departure_time", details.departure_time),
        ("arrival_time", details.arrival_time),
    ] {
        if !time.in_range() {
            return Err(TrainError::TravelTimeOutOfRange { field });
        }
    }
    if details.departure_time < details.arrival_time {
        Ok(())
    } else {
        Err(TrainError::DepartureNotBeforeArrival)
    }
}

impl Decider for Train {
    type State = TrainState;
    type Command = TrainCommand;
    type Event = TrainEvent;
    type Error = TrainError;

    fn decide(state: &TrainState, command: TrainCommand) -> Result<Vec<TrainEvent>, TrainError> {
        match (state, command) {
            (TrainState::Active(train), command) => decide_active(train, command),
            (
                TrainState::Unregistered,
                TrainCommand::Register {
                    train_id,
                    details,
                    seats,
                    stops,
                    layout,
                    tariff,
                    at,
                },
            ) => {
                check_times(&details)?;
                let layout = layout.unwrap_or_else(|| Layout::single(seats.get()));
                if layout.capacity() != seats.get() {
                    return Err(TrainError::LayoutMismatch);
                }
                Ok(vec![TrainEvent::TrainRegistered {
                    train_id,
                    details,
                    capacity: seats.get(),
                    stops,
                    layout: Some(layout),
                    tariff: Some(tariff),
                    registered_at: at,
                }])
            }
            // Ids are never reused, so a removed train cannot come back under its old id.
            (TrainState::Removed, TrainCommand::Register { .. }) => {
                Err(TrainError::TrainAlreadyExists)
            }
            // An order paid for after its train was removed must hear that no ticket comes,
            // as from a train that has left: a refusal as an error would leave it paid and
            // waiting for ever, the money never given back.
            (
                TrainState::Removed,
                TrainCommand::IssueTickets {
                    order_id,
                    hold_id,
                    tickets,
                    at,
                    ..
                },
            ) => {
                let train_id = tickets
                    .first()
                    .map(|ticket| ticket.train_id)
                    .ok_or(TrainError::TrainNotFound)?;
                Ok(vec![TrainEvent::TicketsRefused {
                    train_id,
                    hold_id,
                    order_id,
                    taken: Vec::new(),
                    refused_at: at,
                }])
            }
            (TrainState::Unregistered | TrainState::Removed, _) => Err(TrainError::TrainNotFound),
        }
    }

    fn evolve(state: TrainState, event: &TrainEvent) -> TrainState {
        state::evolve(state, event)
    }
}

fn decide_active(
    train: &ActiveTrain,
    command: TrainCommand,
) -> Result<Vec<TrainEvent>, TrainError> {
    match command {
        TrainCommand::Register { .. } => Err(TrainError::TrainAlreadyExists),
        TrainCommand::Update { update, at } => {
            holds::after_expiry(train, at, |train| decide_update(train, update, at))
        }
        TrainCommand::Remove { at } => {
            holds::after_expiry(train, at, |train| Ok(remove(train, at)))
        }
        TrainCommand::BookSeat {
            booking_id,
            user_credentials,
            operator,
            at,
        } => holds::after_expiry(train, at, |train| {
            book(train, booking_id, user_credentials, operator, at)
        }),
        TrainCommand::HoldSeats {
            hold_id,
            owner,
            request,
            ttl,
            max_holds,
            at,
        } => holds::after_expiry(train, at, |train| {
            holds::hold(train, hold_id, owner, request, at + ttl, max_holds, at)
        }),
        TrainCommand::ReleaseHold { hold_id, at } => holds::release(train, &hold_id, at),
        TrainCommand::ExpireHolds { at } => Ok(holds::expirations(train, at)),
        TrainCommand::ExtendHold {
            hold_id,
            owner,
            order_id,
            until,
            at,
        } => holds::after_expiry(train, at, |train| {
            Ok(holds::extend(train, hold_id, owner, order_id, until, at))
        }),
        TrainCommand::IssueTickets {
            order_id,
            hold_id,
            tickets,
            currency,
            at,
        } => holds::after_expiry(train, at, |train| {
            holds::issue(train, order_id, hold_id, tickets, currency, at)
        }),
        TrainCommand::CancelOrderTickets {
            order_id,
            ticket_ids,
            at,
        } => Ok(holds::cancel_order_tickets(
            train,
            &order_id,
            &ticket_ids,
            at,
        )),
        TrainCommand::ReleaseOrderHold {
            order_id,
            hold_id,
            at,
        } => Ok(holds::release_for_order(train, &hold_id, &order_id, at)),
        TrainCommand::ChangeBookingHolder {
            booking_id,
            user_credentials,
            at,
        } => {
            let user_credentials = traveller(user_credentials)?;
            let booking = train
                .bookings
                .get(&booking_id)
                .ok_or(TrainError::BookingNotFound)?;
            if booking.traveller.owner() != user_credentials.owner() {
                return Err(TrainError::OwnerChange);
            }
            let holder = user_credentials.holder();
            if booking.traveller.holder() == holder {
                return Ok(vec![]);
            }
            // An order's tickets are not bound by one booking per traveller.
            if booking.order.is_none() && train.holders.contains_key(&holder) {
                return Err(TrainError::DuplicateBooking);
            }
            Ok(vec![TrainEvent::BookingHolderChanged {
                train_id: train.train_id,
                booking_id,
                user_credentials,
                changed_at: at,
            }])
        }
        TrainCommand::CancelBooking { booking_id, at } => {
            if !train.bookings.contains_key(&booking_id) {
                return Err(TrainError::BookingNotFound);
            }
            Ok(vec![cancelled(
                train,
                booking_id,
                BookingCancelReason::Requested,
                at,
            )])
        }
        TrainCommand::CancelErasedOwnersBooking {
            booking_id,
            owner,
            at,
        } => {
            let owned = train
                .bookings
                .get(&booking_id)
                .is_some_and(|booking| booking.traveller.owner() == Some(owner));
            // A train that has left keeps its bookings: they were used, and stay counted.
            let departed = train.departed(at);
            if !owned || departed {
                return Ok(vec![]);
            }
            Ok(vec![cancelled(
                train,
                booking_id,
                BookingCancelReason::OwnerErased,
                at,
            )])
        }
    }
}

/// Every active booking cancelled and every hold released, each seat's return its own fact,
/// then the train removed.
fn remove(train: &ActiveTrain, at: DateTime<Utc>) -> Vec<TrainEvent> {
    let mut seats_left = train.seats_left();
    let mut events: Vec<TrainEvent> = train
        .bookings
        .iter()
        .map(|(&booking_id, booking)| {
            seats_left += 1;
            TrainEvent::BookingCancelled {
                train_id: train.train_id,
                booking_id,
                reason: BookingCancelReason::TrainRemoved,
                seats_left,
                order_id: booking.order.clone(),
                cancelled_at: at,
            }
        })
        .collect();
    events.extend(train.holds.iter().map(|(hold_id, hold)| {
        seats_left += u32::try_from(hold.seats.len()).unwrap_or(0);
        TrainEvent::HoldReleased {
            train_id: train.train_id,
            hold_id: hold_id.clone(),
            seats: hold.seats.clone(),
            reason: HoldReleaseReason::TrainRemoved,
            seats_left,
            released_at: at,
        }
    }));
    events.push(TrainEvent::TrainRemoved {
        train_id: train.train_id,
        removed_at: at,
    });
    events
}

/// A booking without a hold: the best free seat of the cheapest class that has one, at the
/// price of the moment. On a priced train only an operator books so.
fn book(
    train: &ActiveTrain,
    booking_id: BookingId,
    user_credentials: Traveller,
    operator: bool,
    at: DateTime<Utc>,
) -> Result<Vec<TrainEvent>, TrainError> {
    let user_credentials = traveller(user_credentials)?;
    if train.holders.contains_key(&user_credentials.holder()) {
        return Err(TrainError::DuplicateBooking);
    }
    // Ids are never reused; a clash means the caller's allocator is broken.
    if train.bookings.contains_key(&booking_id) {
        return Err(TrainError::BookingIdTaken);
    }
    if !operator && !train.tariff.is_free() {
        return Err(TrainError::PaymentRequired);
    }
    let seats_left = train
        .seats_left()
        .checked_sub(1)
        .ok_or(TrainError::NoSeatsLeft)?;
    let (seat, class) = train
        .tariff
        .classes_cheapest_first()
        .into_iter()
        .find_map(|class| {
            let seat = train.layout.pick(class, 1, |seat| train.is_free(seat))?;
            Some((seat.into_iter().next()?, class))
        })
        .ok_or(TrainError::NoSeatsLeft)?;
    let quote = train.tariff.quote(
        &[(seat.clone(), class)],
        train.taken(),
        train.capacity(),
        at,
        train.details.departure_time.naive(),
    );
    Ok(vec![TrainEvent::SeatBooked {
        train_id: train.train_id,
        booking_id,
        user_credentials,
        seat_count: 1,
        seats_left,
        seat: Some(seat),
        class: Some(class),
        price: Some(Money {
            amount: quote.total,
            currency: quote.currency,
        }),
        order_id: None,
        booked_at: at,
    }])
}

/// The cancellation of one active booking of `train`, which gives its seat back.
fn cancelled(
    train: &ActiveTrain,
    booking_id: BookingId,
    reason: BookingCancelReason,
    at: DateTime<Utc>,
) -> TrainEvent {
    TrainEvent::BookingCancelled {
        train_id: train.train_id,
        booking_id,
        reason,
        seats_left: train.seats_left() + 1,
        order_id: train
            .bookings
            .get(&booking_id)
            .and_then(|booking| booking.order.clone()),
        cancelled_at: at,
    }
}

fn decide_update(
    train: &ActiveTrain,
    update: TrainUpdate,
    at: DateTime<Utc>,
) -> Result<Vec<TrainEvent>, TrainError> {
    let details = TrainDetails {
        route: update.route.unwrap_or_else(|| train.details.route.clone()),
        departure_time: update
            .departure_time
            .unwrap_or(train.details.departure_time),
        arrival_time: update.arrival_time.unwrap_or(train.details.arrival_time),
    };
    check_times(&details)?;
    let seats_left = update
        .available_seats
        .map_or(train.seats_left(), SeatCount::get);
    let capacity = train.taken() + seats_left;
    if capacity > SeatCount::MAX {
        return Err(TrainError::CapacityExceeded);
    }
    if details == train.details && capacity == train.capacity() {
        return Ok(vec![]);
    }
    // Seats come and go at the end of the last coach; only free ones may go.
    let (layout, removed) = train.layout.resized(capacity);
    let in_use: Vec<SeatId> = removed
        .into_iter()
        .filter(|seat| !train.is_free(seat))
        .collect();
    if !in_use.is_empty() {
        return Err(TrainError::SeatsInUse(in_use));
    }
    let moved = details.departure_time != train.details.departure_time
        || details.arrival_time != train.details.arrival_time;
    let mut events = vec![TrainEvent::TrainDetailsChanged {
        train_id: train.train_id,
        details: details.clone(),
        capacity,
        seats_left,
        layout: Some(layout),
        changed_at: at,
    }];
    if moved {
        // Each order with tickets on the train hears of it, once.
        let orders: BTreeSet<&OrderId> = train
            .bookings
            .values()
            .filter_map(|booking| booking.order.as_ref())
            .collect();
        events.extend(
            orders
                .into_iter()
                .map(|order_id| TrainEvent::TicketsRescheduled {
                    train_id: train.train_id,
                    order_id: order_id.clone(),
                    departure: details.departure_time,
                    arrival: details.arrival_time,
                    rescheduled_at: at,
                }),
        );
    }
    Ok(events)
}
