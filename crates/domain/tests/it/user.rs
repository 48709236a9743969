//! Accounts: a user registers once, changes role and password while active, and is erased for
//! good; an email is held by one account at a time and freed by its erasure.

use crate::{at, given};
use domain::{
    BookingId, EmailClaim, EmailCommand, EmailError, EmailEvent, EmailKey, OwnedBooking, Role,
    Sealed, TrainId, User, UserCommand, UserError, UserEvent, UserId,
};

const ALICE: UserId = UserId(11);
const BOB: UserId = UserId(12);

fn key() -> EmailKey {
    EmailKey("6b3a55e0".into())
}

fn profile() -> Sealed {
    Sealed("c2VhbGVk".into())
}

fn register(user_id: UserId) -> UserCommand {
    UserCommand::Register {
        user_id,
        email_key: key(),
        profile: profile(),
        role: Role::Traveller,
        at: at(0),
    }
}

fn registered() -> UserEvent {
    UserEvent::UserRegistered {
        user_id: ALICE,
        email_key: key(),
        profile: profile(),
        role: Role::Traveller,
        registered_at: at(0),
    }
}

fn erased() -> UserEvent {
    UserEvent::UserErased {
        user_id: ALICE,
        email_key: key(),
        bookings: Vec::new(),
        erased_at: at(20),
    }
}

#[test]
fn a_new_account_is_registered_with_its_sealed_profile() {
    given::<User>(&[])
        .when(register(ALICE))
        .then(&[registered()]);
}

#[test]
fn an_account_id_is_never_registered_twice_even_after_erasure() {
    given::<User>(&[registered()])
        .when(register(ALICE))
        .then_error(UserError::UserIdTaken);
    given::<User>(&[registered(), erased()])
        .when(register(ALICE))
        .then_error(UserError::UserIdTaken);
}

#[test]
fn an_admin_makes_a_traveller_an_admin_once() {
    let promote = || UserCommand::ChangeRole {
        role: Role::Admin,
        at: at(5),
    };
    let promoted = UserEvent::RoleChanged {
        user_id: ALICE,
        role: Role::Admin,
        changed_at: at(5),
    };
    given::<User>(&[registered()])
        .when(promote())
        .then(std::slice::from_ref(&promoted));
    // Already an admin: nothing to record.
    given::<User>(&[registered(), promoted])
        .when(promote())
        .then(&[]);
}

#[test]
fn a_password_change_is_recorded_without_the_password() {
    given::<User>(&[registered()])
        .when(UserCommand::ChangePassword { at: at(10) })
        .then(&[UserEvent::PasswordChanged {
            user_id: ALICE,
            changed_at: at(10),
        }]);
}

#[test]
fn erasure_carries_the_email_key_and_a_second_erasure_changes_nothing() {
    given::<User>(&[registered()])
        .when(UserCommand::Erase {
            bookings: Vec::new(),
            at: at(20),
        })
        .then(&[erased()]);
    given::<User>(&[registered(), erased()])
        .when(UserCommand::Erase {
            bookings: Vec::new(),
            at: at(30),
        })
        .then(&[]);
}

#[test]
fn an_unknown_or_erased_account_cannot_change() {
    for history in [vec![], vec![registered(), erased()]] {
        given::<User>(&history)
            .when(UserCommand::ChangeRole {
                role: Role::Admin,
                at: at(5),
            })
            .then_error(UserError::UserNotFound);
        given::<User>(&history)
            .when(UserCommand::ChangePassword { at: at(5) })
            .then_error(UserError::UserNotFound);
    }
    given::<User>(&[])
        .when(UserCommand::Erase {
            bookings: Vec::new(),
            at: at(5),
        })
        .then_error(UserError::UserNotFound);
}

fn claim(user_id: UserId) -> EmailCommand {
    EmailCommand::Claim {
        email_key: key(),
        user_id,
        profile: profile(),
        role: Role::Traveller,
        at: at(0),
    }
}

fn claimed(user_id: UserId) -> EmailEvent {
    EmailEvent::EmailClaimed {
        email_key: key(),
        user_id,
        profile: profile(),
        role: Role::Traveller,
        claimed_at: at(0),
    }
}

fn released(user_id: UserId) -> EmailEvent {
    EmailEvent::EmailReleased {
        email_key: key(),
        user_id,
        released_at: at(20),
    }
}

#[test]
fn a_free_email_is_claimed_with_the_registration_it_carries() {
    given::<EmailClaim>(&[])
        .when(claim(ALICE))
        .then(&[claimed(ALICE)]);
}

#[test]
fn a_held_email_refuses_another_account_but_not_a_retry_of_the_same_one() {
    given::<EmailClaim>(&[claimed(ALICE)])
        .when(claim(BOB))
        .then_error(EmailError::EmailTaken);
    given::<EmailClaim>(&[claimed(ALICE)])
        .when(claim(ALICE))
        .then(&[]);
}

#[test]
fn an_erased_account_releases_its_email_which_may_register_again() {
    let release = |user_id| EmailCommand::Release {
        user_id,
        at: at(20),
    };
    given::<EmailClaim>(&[claimed(ALICE)])
        .when(release(ALICE))
        .then(&[released(ALICE)]);
    given::<EmailClaim>(&[claimed(ALICE), released(ALICE)])
        .when(claim(BOB))
        .then(&[claimed(BOB)]);
    // Another account's release, or a repeated one, gives nothing up.
    given::<EmailClaim>(&[claimed(ALICE)])
        .when(release(BOB))
        .then(&[]);
    given::<EmailClaim>(&[claimed(ALICE), released(ALICE)])
        .when(release(ALICE))
        .then(&[]);
}

#[test]
fn erasure_names_the_bookings_to_cancel_so_that_a_reaction_can_find_them() {
    let bookings = vec![OwnedBooking {
        train_id: TrainId(7),
        booking_id: BookingId(42),
    }];
    given::<User>(&[registered()])
        .when(UserCommand::Erase {
            bookings: bookings.clone(),
            at: at(20),
        })
        .then(&[UserEvent::UserErased {
            user_id: ALICE,
            email_key: key(),
            bookings,
            erased_at: at(20),
        }]);
}
