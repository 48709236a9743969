//! An erased account gives its email up, so the address may register again as a new account.

use commands::Reactor;
use domain::{DomainEvent, EmailClaim, EmailCommand, EmailKey, UserEvent, UserId};
use event_store::Filter;

pub(crate) struct ReleaseEmailWhenUserErased;

impl Reactor for ReleaseEmailWhenUserErased {
    type Target = EmailClaim;
    const NAME: &'static str = "release-email-when-user-erased";
    const REACTS_TO: &'static [&'static str] = &["UserErased"];

    fn filter() -> Filter {
        Filter::prefixes([UserId::STREAM_PREFIX])
    }

    fn react(event: &DomainEvent) -> Vec<(EmailKey, EmailCommand)> {
        match event {
            DomainEvent::User(UserEvent::UserErased {
                user_id,
                email_key,
                erased_at,
                ..
            }) => vec![(
                email_key.clone(),
                EmailCommand::Release {
                    user_id: *user_id,
                    at: *erased_at,
                },
            )],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn an_erased_account_releases_its_own_email_at_the_erasure_time() {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 30, 10, 0, 0)
            .single()
            .expect("a time");
        let erased = DomainEvent::User(UserEvent::UserErased {
            user_id: UserId(4),
            email_key: EmailKey("k".into()),
            bookings: Vec::new(),
            erased_at: at,
        });
        assert!(ReleaseEmailWhenUserErased::REACTS_TO.contains(&erased.event_type()));
        assert_eq!(
            ReleaseEmailWhenUserErased::react(&erased),
            vec![(
                EmailKey("k".into()),
                EmailCommand::Release {
                    user_id: UserId(4),
                    at
                }
            )]
        );
    }
}
