//! A won email claim records its account. The claim carries the registration, so the claim
//! that wins is the registration that happens; recording the user is a reaction because the
//! two are different streams.

use commands::Reactor;
use domain::{DomainEvent, EmailEvent, EmailKey, User, UserCommand, UserId};
use event_store::Filter;

pub(crate) struct RegisterUserWhenEmailClaimed;

impl Reactor for RegisterUserWhenEmailClaimed {
    type Target = User;
    const NAME: &'static str = "register-user-when-email-claimed";
    const REACTS_TO: &'static [&'static str] = &["EmailClaimed"];

    fn filter() -> Filter {
        Filter::prefixes([EmailKey::STREAM_PREFIX])
    }

    fn react(event: &DomainEvent) -> Vec<(UserId, UserCommand)> {
        match event {
            DomainEvent::Email(EmailEvent::EmailClaimed {
                email_key,
                user_id,
                profile,
                role,
                claimed_at,
            }) => vec![(
                *user_id,
                UserCommand::Register {
                    user_id: *user_id,
                    email_key: email_key.clone(),
                    profile: profile.clone(),
                    role: *role,
                    at: *claimed_at,
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
    use domain::{Role, Sealed};

    #[test]
    fn a_won_claim_registers_its_account_as_claimed() {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 30, 10, 0, 0)
            .single()
            .expect("a time");
        let claimed = DomainEvent::Email(EmailEvent::EmailClaimed {
            email_key: EmailKey("k".into()),
            user_id: UserId(4),
            profile: Sealed("s".into()),
            role: Role::Admin,
            claimed_at: at,
        });
        assert!(RegisterUserWhenEmailClaimed::REACTS_TO.contains(&claimed.event_type()));
        assert_eq!(
            RegisterUserWhenEmailClaimed::react(&claimed),
            vec![(
                UserId(4),
                UserCommand::Register {
                    user_id: UserId(4),
                    email_key: EmailKey("k".into()),
                    profile: Sealed("s".into()),
                    role: Role::Admin,
                    at,
                }
            )]
        );
    }
}
