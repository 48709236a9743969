//! Accounts: the user aggregate, and the email claim that keeps one account per email.
//!
//! Personal data never enters the log readable. A user's username and email travel as
//! [`Sealed`] bytes, encrypted outside the domain under a key of that user's own, which erasure
//! destroys (crypto-shredding); and an email is known to the log only by its [`EmailKey`], a
//! keyed hash computed outside the domain. Password hashes are not in events at all: they live
//! beside the log, and the log records only that a password changed.
//!
//! Uniqueness of emails is a stream per email key (`email-{key}`): claiming it is an ordinary
//! expected-revision decision, so two concurrent registrations of one email cannot both win.
//! An erased account releases its claim, and the email may register again as a new account.

use crate::{BookingId, Decider, TrainId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Traveller,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Traveller => "traveller",
            Self::Admin => "admin",
        }
    }
}

/// Personal data as the log stores it: opaque ciphertext under its owner's key. The domain
/// never opens it; erasure makes it unreadable for good by destroying the key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sealed(pub String);

// Ciphertext is not secret, but there is no reason to print it either.
impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealed(..)")
    }
}

/// An email as the log knows it: a keyed hash of its normalised form, so that equal emails
/// meet without the address ever being stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EmailKey(pub String);

impl std::fmt::Display for EmailKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl EmailKey {
    /// Prefix of every email-claim stream.
    pub const STREAM_PREFIX: &'static str = "email-";

    /// The stream that decides who holds this email.
    pub fn stream(&self) -> String {
        format!("{}{}", Self::STREAM_PREFIX, self.0)
    }
}

/// The user decider.
pub struct User;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserCommand {
    /// Records an account whose email claim was won.
    Register {
        user_id: UserId,
        email_key: EmailKey,
        profile: Sealed,
        role: Role,
        at: DateTime<Utc>,
    },
    ChangeRole {
        role: Role,
        at: DateTime<Utc>,
    },
    /// The new hash is stored beside the log; the event marks that other sessions end.
    ChangePassword {
        at: DateTime<Utc>,
    },
    /// Forgets the person. `bookings` are their active bookings as the read models know them
    /// (an input from outside, like the time); a reaction cancels those whose train has not
    /// left.
    Erase {
        bookings: Vec<OwnedBooking>,
        at: DateTime<Utc>,
    },
}

/// A booking of an account, as the account's erasure names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedBooking {
    pub train_id: TrainId,
    pub booking_id: BookingId,
}

/// What happened to an account. Stored forever: names and fields are a contract with the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum UserEvent {
    UserRegistered {
        user_id: UserId,
        email_key: EmailKey,
        /// Username and email, sealed under the user's key.
        profile: Sealed,
        role: Role,
        registered_at: DateTime<Utc>,
    },
    RoleChanged {
        user_id: UserId,
        role: Role,
        changed_at: DateTime<Utc>,
    },
    PasswordChanged {
        user_id: UserId,
        changed_at: DateTime<Utc>,
    },
    /// The person is forgotten: their key is destroyed, their claim on the email released,
    /// their future bookings cancelled. Carries the email key so the claim can be found.
    UserErased {
        user_id: UserId,
        email_key: EmailKey,
        /// The person's active bookings when they were erased (added later: older erasures
        /// name none, and an erasure without bookings is stored as before).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        bookings: Vec<OwnedBooking>,
        erased_at: DateTime<Utc>,
    },
}

impl UserEvent {
    pub fn user_id(&self) -> UserId {
        match self {
            Self::UserRegistered { user_id, .. }
            | Self::RoleChanged { user_id, .. }
            | Self::PasswordChanged { user_id, .. }
            | Self::UserErased { user_id, .. } => *user_id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("User not found")]
    UserNotFound,
    /// An id handed out twice: a bug outside the domain, never a user's mistake.
    #[error("User id already taken")]
    UserIdTaken,
}

/// The lifecycle of one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum UserState {
    #[default]
    Unregistered,
    Active {
        user_id: UserId,
        email_key: EmailKey,
        role: Role,
    },
    Erased {
        user_id: UserId,
    },
}

impl Decider for User {
    type State = UserState;
    type Command = UserCommand;
    type Event = UserEvent;
    type Error = UserError;

    fn decide(state: &UserState, command: UserCommand) -> Result<Vec<UserEvent>, UserError> {
        let UserState::Active {
            user_id,
            email_key,
            role: current,
        } = state
        else {
            return match (state, command) {
                (
                    UserState::Unregistered,
                    UserCommand::Register {
                        user_id,
                        email_key,
                        profile,
                        role,
                        at,
                    },
                ) => Ok(vec![UserEvent::UserRegistered {
                    user_id,
                    email_key,
                    profile,
                    role,
                    registered_at: at,
                }]),
                (_, UserCommand::Register { .. }) => Err(UserError::UserIdTaken),
                // Erasing twice changes nothing: a retried erasure succeeds.
                (UserState::Erased { .. }, UserCommand::Erase { .. }) => Ok(Vec::new()),
                _ => Err(UserError::UserNotFound),
            };
        };
        let user_id = *user_id;
        match command {
            UserCommand::Register { .. } => Err(UserError::UserIdTaken),
            UserCommand::ChangeRole { role, .. } if role == *current => Ok(Vec::new()),
            UserCommand::ChangeRole { role, at } => Ok(vec![UserEvent::RoleChanged {
                user_id,
                role,
                changed_at: at,
            }]),
            UserCommand::ChangePassword { at } => Ok(vec![UserEvent::PasswordChanged {
                user_id,
                changed_at: at,
            }]),
            UserCommand::Erase { bookings, at } => Ok(vec![UserEvent::UserErased {
                user_id,
                email_key: email_key.clone(),
                bookings,
                erased_at: at,
            }]),
        }
    }

    fn evolve(state: UserState, event: &UserEvent) -> UserState {
        match event {
            UserEvent::UserRegistered {
                user_id,
                email_key,
                role,
                ..
            } => UserState::Active {
                user_id: *user_id,
                email_key: email_key.clone(),
                role: *role,
            },
            UserEvent::RoleChanged { role, .. } => match state {
                UserState::Active {
                    user_id, email_key, ..
                } => UserState::Active {
                    user_id,
                    email_key,
                    role: *role,
                },
                other => other,
            },
            UserEvent::PasswordChanged { .. } => state,
            UserEvent::UserErased { user_id, .. } => UserState::Erased { user_id: *user_id },
        }
    }
}

impl crate::EventFamily for UserEvent {
    const TYPES: &'static [(&'static str, u32)] = &[
        ("UserRegistered", 1),
        ("RoleChanged", 1),
        ("PasswordChanged", 1),
        ("UserErased", 1),
    ];

    fn event_type(&self) -> &'static str {
        match self {
            Self::UserRegistered { .. } => "UserRegistered",
            Self::RoleChanged { .. } => "RoleChanged",
            Self::PasswordChanged { .. } => "PasswordChanged",
            Self::UserErased { .. } => "UserErased",
        }
    }
}

/// The email-claim decider: who holds an email, one stream per [`EmailKey`].
pub struct EmailClaim;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailCommand {
    /// Claims the email for a new account. The account's registration rides along, so that
    /// the claim that wins is the registration that happens (a reaction records the user).
    Claim {
        email_key: EmailKey,
        user_id: UserId,
        profile: Sealed,
        role: Role,
        at: DateTime<Utc>,
    },
    /// Gives the email up, when its account is erased.
    Release { user_id: UserId, at: DateTime<Utc> },
}

/// What happened to an email's claim. Stored forever.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum EmailEvent {
    EmailClaimed {
        email_key: EmailKey,
        user_id: UserId,
        profile: Sealed,
        role: Role,
        claimed_at: DateTime<Utc>,
    },
    EmailReleased {
        email_key: EmailKey,
        user_id: UserId,
        released_at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("User already exists")]
    EmailTaken,
}

/// Who holds an email, if anyone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum EmailState {
    #[default]
    Free,
    Claimed {
        email_key: EmailKey,
        user_id: UserId,
    },
}

impl Decider for EmailClaim {
    type State = EmailState;
    type Command = EmailCommand;
    type Event = EmailEvent;
    type Error = EmailError;

    fn decide(state: &EmailState, command: EmailCommand) -> Result<Vec<EmailEvent>, EmailError> {
        match (state, command) {
            (
                EmailState::Free,
                EmailCommand::Claim {
                    email_key,
                    user_id,
                    profile,
                    role,
                    at,
                },
            ) => Ok(vec![EmailEvent::EmailClaimed {
                email_key,
                user_id,
                profile,
                role,
                claimed_at: at,
            }]),
            // The same registration tried again: it already holds the email.
            (
                EmailState::Claimed {
                    user_id: holder, ..
                },
                EmailCommand::Claim { user_id, .. },
            ) if *holder == user_id => Ok(Vec::new()),
            (EmailState::Claimed { .. }, EmailCommand::Claim { .. }) => Err(EmailError::EmailTaken),
            (
                EmailState::Claimed {
                    email_key,
                    user_id: holder,
                },
                EmailCommand::Release { user_id, at },
            ) if *holder == user_id => Ok(vec![EmailEvent::EmailReleased {
                email_key: email_key.clone(),
                user_id,
                released_at: at,
            }]),
            // Not (or no longer) this account's: nothing to give up.
            (_, EmailCommand::Release { .. }) => Ok(Vec::new()),
        }
    }

    fn evolve(_state: EmailState, event: &EmailEvent) -> EmailState {
        match event {
            EmailEvent::EmailClaimed {
                email_key, user_id, ..
            } => EmailState::Claimed {
                email_key: email_key.clone(),
                user_id: *user_id,
            },
            EmailEvent::EmailReleased { .. } => EmailState::Free,
        }
    }
}

impl crate::EventFamily for EmailEvent {
    const TYPES: &'static [(&'static str, u32)] = &[("EmailClaimed", 1), ("EmailReleased", 1)];

    fn event_type(&self) -> &'static str {
        match self {
            Self::EmailClaimed { .. } => "EmailClaimed",
            Self::EmailReleased { .. } => "EmailReleased",
        }
    }
}
