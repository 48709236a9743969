//! An erased account's bookings give their seats back while their trains have not left. The
//! erasure names the bookings; each train decides for itself whether its booking is still in
//! the future (one that has left stays counted, its traveller unreadable).

use commands::Reactor;
use domain::{DomainEvent, TrainCommand, TrainId, UserEvent, UserId};
use event_store::Filter;

pub(crate) struct CancelBookingsWhenUserErased;

impl Reactor for CancelBookingsWhenUserErased {
    type Target = domain::Train;
    const NAME: &'static str = "cancel-bookings-when-user-erased";
    const REACTS_TO: &'static [&'static str] = &["UserErased"];

    fn filter() -> Filter {
        Filter::prefixes([UserId::STREAM_PREFIX])
    }

    fn react(event: &DomainEvent) -> Vec<(TrainId, TrainCommand)> {
        match event {
            DomainEvent::User(UserEvent::UserErased {
                user_id,
                bookings,
                erased_at,
                ..
            }) => bookings
                .iter()
                .map(|booking| {
                    (
                        booking.train_id,
                        TrainCommand::CancelErasedOwnersBooking {
                            booking_id: booking.booking_id,
                            owner: *user_id,
                            at: *erased_at,
                        },
                    )
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use domain::{BookingId, EmailKey, OwnedBooking};

    #[test]
    fn each_booking_the_erasure_names_goes_to_its_train_at_the_erasure_time() {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 30, 10, 0, 0)
            .single()
            .expect("a time");
        let booking = |train, booking| OwnedBooking {
            train_id: TrainId(train),
            booking_id: BookingId(booking),
        };
        let erased = DomainEvent::User(UserEvent::UserErased {
            user_id: UserId(4),
            email_key: EmailKey("k".into()),
            bookings: vec![booking(1, 10), booking(2, 20)],
            erased_at: at,
        });
        assert!(CancelBookingsWhenUserErased::REACTS_TO.contains(&erased.event_type()));
        let cancel = |booking| TrainCommand::CancelErasedOwnersBooking {
            booking_id: BookingId(booking),
            owner: UserId(4),
            at,
        };
        assert_eq!(
            CancelBookingsWhenUserErased::react(&erased),
            vec![(TrainId(1), cancel(10)), (TrainId(2), cancel(20))]
        );
    }
}
