//! The order process, from the order to its trains: each step the order records becomes the
//! commands that move its seats, on every train of the order.
//!
//! - placed: each hold is kept until `pay_by` (or the refusal is recorded);
//! - cancelled unpaid: its holds are let go;
//! - paid: each hold's seats become bookings (taken again if the hold ended meanwhile);
//! - tickets given up: their bookings are cancelled on their trains.

use commands::Reactor;
use domain::{DomainEvent, OrderEvent, OrderId, Ticket, TrainCommand, TrainId};
use event_store::Filter;

pub(crate) struct OrderStepsOnTrains;

impl Reactor for OrderStepsOnTrains {
    type Target = domain::Train;
    const NAME: &'static str = "order-steps-on-trains";
    const REACTS_TO: &'static [&'static str] = &[
        "OrderPlaced",
        "OrderCancelled",
        "PaymentSucceeded",
        "TicketsCancelled",
    ];

    fn filter() -> Filter {
        Filter::prefixes([OrderId::STREAM_PREFIX])
    }

    fn react(event: &DomainEvent) -> Vec<(TrainId, TrainCommand)> {
        let DomainEvent::Order(event) = event else {
            return Vec::new();
        };
        match event {
            OrderEvent::OrderPlaced {
                order_id,
                owner,
                tickets,
                pay_by,
                placed_at,
                ..
            } => by_hold(tickets)
                .into_iter()
                .map(|(train_id, hold_id, _)| {
                    let extend = TrainCommand::ExtendHold {
                        hold_id,
                        owner: *owner,
                        order_id: order_id.clone(),
                        until: *pay_by,
                        at: *placed_at,
                    };
                    (train_id, extend)
                })
                .collect(),
            OrderEvent::OrderCancelled {
                order_id,
                holds,
                cancelled_at,
                ..
            } => holds
                .iter()
                .map(|hold| {
                    let release = TrainCommand::ReleaseOrderHold {
                        order_id: order_id.clone(),
                        hold_id: hold.hold_id.clone(),
                        at: *cancelled_at,
                    };
                    (hold.train_id, release)
                })
                .collect(),
            OrderEvent::PaymentSucceeded {
                order_id,
                amount,
                tickets,
                succeeded_at,
                ..
            } => by_hold(tickets)
                .into_iter()
                .map(|(train_id, hold_id, tickets)| {
                    let issue = TrainCommand::IssueTickets {
                        order_id: order_id.clone(),
                        hold_id,
                        tickets,
                        currency: amount.currency.clone(),
                        at: *succeeded_at,
                    };
                    (train_id, issue)
                })
                .collect(),
            OrderEvent::TicketsCancelled {
                order_id,
                tickets,
                cancelled_at,
                ..
            } => {
                let mut trains: Vec<(TrainId, Vec<domain::BookingId>)> = Vec::new();
                for ticket in tickets.iter().filter(|t| t.on_train) {
                    match trains.iter_mut().find(|(id, _)| *id == ticket.train_id) {
                        Some((_, ids)) => ids.push(ticket.ticket_id),
                        None => trains.push((ticket.train_id, vec![ticket.ticket_id])),
                    }
                }
                trains
                    .into_iter()
                    .map(|(train_id, ticket_ids)| {
                        let cancel = TrainCommand::CancelOrderTickets {
                            order_id: order_id.clone(),
                            ticket_ids,
                            at: *cancelled_at,
                        };
                        (train_id, cancel)
                    })
                    .collect()
            }
            _ => Vec::new(),
        }
    }
}

/// The tickets grouped by hold, in the order the holds first appear.
fn by_hold(tickets: &[Ticket]) -> Vec<(TrainId, domain::HoldId, Vec<Ticket>)> {
    let mut holds: Vec<(TrainId, domain::HoldId, Vec<Ticket>)> = Vec::new();
    for ticket in tickets {
        match holds
            .iter_mut()
            .find(|(_, hold, _)| *hold == ticket.hold_id)
        {
            Some((_, _, group)) => group.push(ticket.clone()),
            None => holds.push((
                ticket.train_id,
                ticket.hold_id.clone(),
                vec![ticket.clone()],
            )),
        }
    }
    holds
}
