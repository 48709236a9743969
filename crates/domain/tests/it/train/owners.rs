//! Bookings of accounts: the traveller's name is sealed, so the one-booking-per-traveller rule
//! compares the owner and a keyed tag of the name; a booking keeps its owner; an erased owner's
//! bookings are cancelled only while their train has not left.

use super::{TRAIN, cancelled, registered};
use crate::{at, given};
use chrono::{TimeZone, Utc};
use domain::{
    BookingCancelReason, BookingId, Currency, Money, Sealed, SeatClass, SeatId, Train,
    TrainCommand, TrainError, TrainEvent, Traveller, UserId,
};

const ANN: UserId = UserId(11);
const BEN: UserId = UserId(12);

/// `owner`'s traveller whose name has the tag `tag`; `sealing` stands for the ciphertext,
/// which differs on every sealing of the same name.
pub(super) fn traveller(owner: UserId, tag: &str, sealing: u8) -> Traveller {
    Traveller::Owned {
        owner,
        name: Sealed(format!("sealed-{tag}-{sealing}")),
        tag: tag.into(),
    }
}

pub(super) fn book(booking: i64, traveller: Traveller) -> TrainCommand {
    TrainCommand::BookSeat {
        booking_id: BookingId(booking),
        user_credentials: traveller,
        operator: false,
        at: at(10),
    }
}

fn booked(booking: i64, traveller: Traveller, seats_left: u32) -> TrainEvent {
    TrainEvent::SeatBooked {
        order_id: None,
        train_id: TRAIN,
        booking_id: BookingId(booking),
        user_credentials: traveller,
        seat_count: 1,
        seats_left,
        seat: Some(SeatId::parse(&format!("1-{booking}")).expect("a valid seat")),
        class: Some(SeatClass::Second),
        price: Some(Money {
            amount: 0,
            currency: Currency::eur(),
        }),
        booked_at: at(10),
    }
}

fn rename(booking: i64, traveller: Traveller) -> TrainCommand {
    TrainCommand::ChangeBookingHolder {
        booking_id: BookingId(booking),
        user_credentials: traveller,
        at: at(15),
    }
}

fn erased_owner(booking: i64, owner: UserId, at: chrono::DateTime<Utc>) -> TrainCommand {
    TrainCommand::CancelErasedOwnersBooking {
        booking_id: BookingId(booking),
        owner,
        at,
    }
}

#[test]
fn an_account_books_for_two_travellers_with_different_names() {
    given::<Train>(&[registered(10), booked(1, traveller(ANN, "a", 1), 9)])
        .when(book(2, traveller(ANN, "b", 1)))
        .then(&[booked(2, traveller(ANN, "b", 1), 8)]);
}

#[test]
fn an_account_cannot_book_the_same_traveller_twice_on_one_train() {
    given::<Train>(&[registered(10), booked(1, traveller(ANN, "a", 1), 9)])
        .when(book(2, traveller(ANN, "a", 2)))
        .then_error(TrainError::DuplicateBooking);
}

#[test]
fn the_same_name_under_two_accounts_is_two_travellers() {
    given::<Train>(&[registered(10), booked(1, traveller(ANN, "a", 1), 9)])
        .when(book(2, traveller(BEN, "a", 1)))
        .then(&[booked(2, traveller(BEN, "a", 1), 8)]);
}

#[test]
fn a_named_traveller_and_an_accounts_never_collide() {
    given::<Train>(&[registered(10), booked(1, traveller(ANN, "Tom", 1), 9)])
        .when(book(2, Traveller::from("Tom")))
        .then(&[booked(2, Traveller::from("Tom"), 8)]);
}

#[test]
fn an_accounts_booking_keeps_its_owner() {
    let history = [registered(10), booked(1, traveller(ANN, "a", 1), 9)];
    given::<Train>(&history)
        .when(rename(1, traveller(BEN, "b", 1)))
        .then_error(TrainError::OwnerChange);
    given::<Train>(&history)
        .when(rename(1, Traveller::from("Tom")))
        .then_error(TrainError::OwnerChange);
}

#[test]
fn renaming_to_the_same_name_sealed_again_records_nothing() {
    given::<Train>(&[registered(10), booked(1, traveller(ANN, "a", 1), 9)])
        .when(rename(1, traveller(ANN, "a", 2)))
        .then(&[]);
}

#[test]
fn renaming_to_another_of_the_owners_booked_travellers_is_refused() {
    given::<Train>(&[
        registered(10),
        booked(1, traveller(ANN, "a", 1), 9),
        booked(2, traveller(ANN, "b", 1), 8),
    ])
    .when(rename(1, traveller(ANN, "b", 2)))
    .then_error(TrainError::DuplicateBooking);
}

#[test]
fn an_erased_owners_booking_is_cancelled_before_the_train_leaves() {
    given::<Train>(&[registered(10), booked(1, traveller(ANN, "a", 1), 9)])
        .when(erased_owner(1, ANN, at(20)))
        .then(&[cancelled(1, BookingCancelReason::OwnerErased, 10)]);
}

#[test]
fn an_erased_owners_booking_on_a_train_that_has_left_stays_counted() {
    // The train departs on 2024-09-25 at 06:30.
    let after = Utc
        .with_ymd_and_hms(2024, 9, 25, 6, 30, 0)
        .single()
        .expect("a fixed instant");
    given::<Train>(&[registered(10), booked(1, traveller(ANN, "a", 1), 9)])
        .when(erased_owner(1, ANN, after))
        .then(&[]);
}

#[test]
fn an_erasure_leaves_other_owners_and_cancelled_bookings_alone() {
    given::<Train>(&[registered(10), booked(1, traveller(BEN, "a", 1), 9)])
        .when(erased_owner(1, ANN, at(20)))
        .then(&[]);
    given::<Train>(&[
        registered(10),
        booked(1, traveller(ANN, "a", 1), 9),
        cancelled(1, BookingCancelReason::Requested, 10),
    ])
    .when(erased_owner(1, ANN, at(20)))
    .then(&[]);
}
