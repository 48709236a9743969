//! Placing an order: tickets of the caller's holds, priced in one currency, under an id the
//! caller chose, so a retried placement finds its order instead of making a second.

use super::{OWNER, TOTAL, eur, one_train, order_id, place, placed, request_payment, two_trains};
use crate::{at, given};
use domain::{Currency, OrderCommand, OrderError, OrderEvent, Orders, UserId};

#[test]
fn placing_an_order_totals_the_prices_of_its_tickets() {
    given::<Orders>(&[])
        .when(place(two_trains(), OWNER))
        .then(&[OrderEvent::OrderPlaced {
            order_id: order_id(),
            owner: OWNER,
            tickets: two_trains(),
            total: eur(TOTAL),
            pay_by: at(30),
            placed_at: at(0),
        }]);
}

#[test]
fn an_order_of_no_tickets_is_refused() {
    given::<Orders>(&[])
        .when(place(Vec::new(), OWNER))
        .then_error(OrderError::EmptyOrder);
}

#[test]
fn holds_priced_in_two_currencies_cannot_make_one_order() {
    let ron = Currency::parse("RON").expect("a currency");
    given::<Orders>(&[])
        .when(OrderCommand::Place {
            order_id: order_id(),
            owner: OWNER,
            tickets: two_trains(),
            currencies: vec![Currency::eur(), ron],
            pay_by: at(30),
            at: at(0),
        })
        .then_error(OrderError::MixedCurrencies);
}

#[test]
fn the_same_owner_placing_the_order_again_records_nothing() {
    given::<Orders>(&[placed(one_train())])
        .when(place(one_train(), OWNER))
        .then(&[]);
}

#[test]
fn another_owner_cannot_take_an_order_id_in_use() {
    given::<Orders>(&[placed(one_train())])
        .when(place(one_train(), UserId(12)))
        .then_error(OrderError::OrderIdTaken);
}

#[test]
fn an_order_never_placed_takes_no_other_command() {
    given::<Orders>(&[])
        .when(request_payment(1))
        .then_error(OrderError::OrderNotFound);
}
