//! The order process, from the trains back to the orders: what a train decided about an
//! order's seats becomes a step of that order.
//!
//! - a hold that could not be kept: the order is cancelled (and its other holds let go);
//! - a hold's tickets issued, or refused: the order confirms, or unwinds and refunds;
//! - a train removed with an order's tickets: those are refunded in full;
//! - a train rescheduled: the order records it, and its owner is told.

use commands::Reactor;
use domain::{BookingCancelReason, DomainEvent, OrderCommand, OrderId, TrainEvent, TrainId};
use event_store::Filter;

pub(crate) struct TrainAnswersToOrders;

impl Reactor for TrainAnswersToOrders {
    type Target = domain::Orders;
    const NAME: &'static str = "train-answers-to-orders";
    const REACTS_TO: &'static [&'static str] = &[
        "HoldExtensionRefused",
        "OrderTicketsBooked",
        "TicketsRefused",
        "BookingCancelled",
        "TicketsRescheduled",
    ];

    fn filter() -> Filter {
        Filter::prefixes([TrainId::STREAM_PREFIX])
    }

    fn react(event: &DomainEvent) -> Vec<(OrderId, OrderCommand)> {
        let DomainEvent::Train(event) = event else {
            return Vec::new();
        };
        let answer = match event {
            TrainEvent::HoldExtensionRefused {
                hold_id,
                order_id,
                refused_at,
                ..
            } => (
                order_id.clone(),
                OrderCommand::RejectHold {
                    hold_id: hold_id.clone(),
                    at: *refused_at,
                },
            ),
            TrainEvent::OrderTicketsBooked {
                train_id,
                hold_id,
                order_id,
                ticket_ids,
                issued_at,
                ..
            } => (
                order_id.clone(),
                OrderCommand::NoteIssued {
                    train_id: *train_id,
                    hold_id: hold_id.clone(),
                    ticket_ids: ticket_ids.clone(),
                    at: *issued_at,
                },
            ),
            TrainEvent::TicketsRefused {
                train_id,
                hold_id,
                order_id,
                refused_at,
                ..
            } => (
                order_id.clone(),
                OrderCommand::NoteIssueFailed {
                    train_id: *train_id,
                    hold_id: hold_id.clone(),
                    at: *refused_at,
                },
            ),
            TrainEvent::BookingCancelled {
                train_id,
                booking_id,
                reason: BookingCancelReason::TrainRemoved,
                order_id: Some(order_id),
                cancelled_at,
                ..
            } => (
                order_id.clone(),
                OrderCommand::NoteTrainRemoved {
                    train_id: *train_id,
                    ticket_ids: vec![*booking_id],
                    at: *cancelled_at,
                },
            ),
            TrainEvent::TicketsRescheduled {
                train_id,
                order_id,
                departure,
                arrival,
                rescheduled_at,
            } => (
                order_id.clone(),
                OrderCommand::NoteRescheduled {
                    train_id: *train_id,
                    departure: *departure,
                    arrival: *arrival,
                    at: *rescheduled_at,
                },
            ),
            _ => return Vec::new(),
        };
        vec![answer]
    }
}
