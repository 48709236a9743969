//! Password hashes: Argon2id with the crate's default parameters (19 MiB, two passes, one
//! lane: OWASP's baseline), stored as PHC strings so that the parameters travel with each hash
//! and can be raised later without invalidating old ones.
//!
//! A login must cost the same whether or not the email has an account, or its timing tells
//! which emails are registered: [`verify_or_dummy`] runs exactly one Argon2 verification either
//! way, against [`DUMMY_HASH`] when there is no real one.

use argon2::password_hash::SaltString;
use argon2::{ARGON2ID_IDENT, Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// A hash with the same parameters as [`hash_password`]'s, verified against when a login names
/// no account, so that both cases do the same work. Its salt and digest are random bytes, not
/// the output of hashing anything: no password is known to match it.
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$I7WyZ8HA3KushWnuNLTtSw$Fi3plV2e61uZ43CyVDp55+eRZtaaJt2P+QrNJa0uoYc";

/// Hashes `password` with a fresh random salt, as a PHC string.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .expect("the system random source is available");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("Argon2 hashes any password shorter than 4 GiB with its default parameters")
        .to_string()
}

/// Whether `password` matches the PHC string `phc`. An unreadable `phc` matches nothing.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// Verifies `password` against the account's hash, or against [`DUMMY_HASH`] when there is no
/// account (or its hash is not an Argon2id PHC string), and then answers `false`. Either way
/// exactly one Argon2 verification runs.
pub fn verify_or_dummy(password: &str, stored: Option<&str>) -> bool {
    verify_once(password, stored, verify_password)
}

/// [`verify_or_dummy`] with the verification passed in, so that a test can see which hash it
/// ran against. `FnOnce` is the promise: one verification, never two, never none.
fn verify_once(
    password: &str,
    stored: Option<&str>,
    verify: impl FnOnce(&str, &str) -> bool,
) -> bool {
    let usable = stored
        .filter(|phc| PasswordHash::new(phc).is_ok_and(|hash| hash.algorithm == ARGON2ID_IDENT));
    match usable {
        Some(phc) => verify(password, phc),
        None => {
            // The answer is thrown away: only the work counts.
            let _ = verify(password, DUMMY_HASH);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let hash = hash_password("correct horse");
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horsf", &hash));
        assert!(!verify_password("correct horse", "not a PHC string"));
    }

    #[test]
    fn two_hashes_of_one_password_differ() {
        assert_ne!(hash_password("same"), hash_password("same"));
    }

    #[test]
    fn the_dummy_hash_has_the_parameters_of_real_hashes() {
        let real = hash_password("anything");
        let real = PasswordHash::new(&real).expect("a PHC string");
        let dummy = PasswordHash::new(DUMMY_HASH).expect("a PHC string");
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params);
        assert_eq!(
            dummy.hash.map(|h| h.len()),
            real.hash.map(|h| h.len()),
            "the same output length"
        );
    }

    /// Runs `verify_once` with a verifier that records the hashes it was given and answers
    /// `answer`.
    fn verifications(stored: Option<&str>, answer: bool) -> (bool, Vec<String>) {
        let seen = RefCell::new(Vec::new());
        let matched = verify_once("pw", stored, |_, phc| {
            seen.borrow_mut().push(phc.to_owned());
            answer
        });
        (matched, seen.into_inner())
    }

    #[test]
    fn an_unknown_account_runs_one_verification_against_the_dummy_and_fails() {
        // Even a verifier that says yes (a password equal to the dummy's) does not let it in.
        assert_eq!(
            verifications(None, true),
            (false, vec![DUMMY_HASH.to_owned()])
        );
    }

    #[test]
    fn a_known_account_runs_one_verification_against_its_hash() {
        let stored = hash_password("pw");
        assert_eq!(
            verifications(Some(&stored), true),
            (true, vec![stored.clone()])
        );
        assert_eq!(verifications(Some(&stored), false), (false, vec![stored]));
    }

    #[test]
    fn an_unreadable_or_foreign_stored_hash_is_treated_as_no_account() {
        let foreign = DUMMY_HASH.replace("$argon2id$", "$argon2i$");
        for stored in ["garbage", foreign.as_str()] {
            assert_eq!(
                verifications(Some(stored), true),
                (false, vec![DUMMY_HASH.to_owned()]),
                "{stored}"
            );
        }
    }

    #[test]
    fn verify_or_dummy_checks_real_passwords() {
        let stored = hash_password("secret words");
        assert!(verify_or_dummy("secret words", Some(&stored)));
        assert!(!verify_or_dummy("other words", Some(&stored)));
        assert!(!verify_or_dummy("secret words", None));
    }
}
