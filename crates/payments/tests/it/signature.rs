//! The webhook signature: what `verify` accepts and what it refuses, and that the secret
//! stays out of `Debug`.

use chrono::{DateTime, TimeDelta, Utc};
use payments::webhook::{EmptySecret, SignatureError, TOLERANCE, WebhookSecret, sign, verify};

const BODY: &[u8] = br#"{"event_id":"evt_1","type":"payment.succeeded"}"#;

fn secret(value: &str) -> WebhookSecret {
    WebhookSecret::from(value.to_owned())
}

fn signed_at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("in range")
}

/// Verifies a good signature of [`BODY`], `offset` after it was made (before, if negative).
fn verified_after(offset: TimeDelta) -> Result<(), SignatureError> {
    let key = secret("whsec_a");
    let header = sign(&key, signed_at(), BODY);
    verify(&key, Some(&header), BODY, signed_at() + offset)
}

#[test]
fn a_signature_has_the_time_and_one_hex_mac() {
    let header = sign(&secret("whsec_a"), signed_at(), BODY);
    let (t, v1) = header.split_once(',').expect("two parts");
    assert_eq!(t, "t=1800000000");
    let mac = v1.strip_prefix("v1=").expect("a v1 entry");
    assert_eq!(mac.len(), 64, "{mac}");
    assert!(mac.bytes().all(|b| b.is_ascii_hexdigit()), "{mac}");
}

#[test]
fn a_good_signature_is_accepted() {
    assert_eq!(verified_after(TimeDelta::zero()), Ok(()));
}

#[test]
fn a_tampered_body_is_a_mismatch() {
    let key = secret("whsec_a");
    let header = sign(&key, signed_at(), BODY);
    let tampered = br#"{"event_id":"evt_1","type":"payment.failed"}"#;
    assert_eq!(
        verify(&key, Some(&header), tampered, signed_at()),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn another_secret_is_a_mismatch() {
    let header = sign(&secret("whsec_a"), signed_at(), BODY);
    assert_eq!(
        verify(&secret("whsec_b"), Some(&header), BODY, signed_at()),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn a_time_changed_after_signing_is_a_mismatch() {
    let key = secret("whsec_a");
    let header = sign(&key, signed_at(), BODY);
    let moved = header.replace("t=1800000000", "t=1800000100");
    let now = signed_at() + TimeDelta::seconds(100);
    assert_eq!(
        verify(&key, Some(&moved), BODY, now),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn a_signature_300_s_old_or_ahead_is_still_fresh() {
    assert_eq!(verified_after(TOLERANCE), Ok(()));
    assert_eq!(verified_after(-TOLERANCE), Ok(()));
}

#[test]
fn a_signature_301_s_old_is_stale() {
    assert_eq!(
        verified_after(TimeDelta::seconds(301)),
        Err(SignatureError::Stale)
    );
}

#[test]
fn a_signature_301_s_in_the_future_is_stale() {
    assert_eq!(
        verified_after(TimeDelta::seconds(-301)),
        Err(SignatureError::Stale)
    );
}

#[test]
fn a_missing_header_is_missing() {
    assert_eq!(
        verify(&secret("whsec_a"), None, BODY, signed_at()),
        Err(SignatureError::Missing)
    );
}

#[test]
fn a_malformed_header_is_malformed() {
    let key = secret("whsec_a");
    let good = sign(&key, signed_at(), BODY);
    let v1 = good.split_once(',').expect("two parts").1;
    for header in [
        String::new(),
        "garbage".to_owned(),
        v1.to_owned(),
        "t=1800000000".to_owned(),
        format!("t=soon,{v1}"),
        format!("t=1800000000,t=1800000000,{v1}"),
        "t=1800000000,v1=not-hex".to_owned(),
        format!("t=99999999999999999999,{v1}"),
    ] {
        assert_eq!(
            verify(&key, Some(&header), BODY, signed_at()),
            Err(SignatureError::Malformed),
            "{header:?}"
        );
    }
}

#[test]
fn one_matching_v1_among_several_is_enough() {
    let old = secret("whsec_old");
    let new = secret("whsec_new");
    let by_old = sign(&old, signed_at(), BODY);
    let by_new = sign(&new, signed_at(), BODY);
    let old_mac = by_old.split_once(",v1=").expect("v1").1;
    // While a secret is rotated the provider signs with both, and other schemes may appear.
    let header = format!("{by_new},v0=ignored,v1={old_mac}");
    assert_eq!(verify(&old, Some(&header), BODY, signed_at()), Ok(()));
    assert_eq!(verify(&new, Some(&header), BODY, signed_at()), Ok(()));
    assert_eq!(
        verify(&secret("whsec_other"), Some(&header), BODY, signed_at()),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn a_stale_time_is_refused_even_when_several_v1_match() {
    let key = secret("whsec_a");
    let header = sign(&key, signed_at(), BODY);
    let mac = header.split_once(",v1=").expect("v1").1;
    let twice = format!("{header},v1={mac}");
    let now = signed_at() + TimeDelta::seconds(301);
    assert_eq!(
        verify(&key, Some(&twice), BODY, now),
        Err(SignatureError::Stale)
    );
}

#[test]
fn the_secret_never_shows_in_debug() {
    let key = secret("whsec_do_not_print");
    assert_eq!(format!("{key:?}"), "WebhookSecret(..)");
    let settings = payments::simulator::Settings {
        webhook_url: "http://127.0.0.1:1/webhooks".into(),
        secret: key,
    };
    let shown = format!("{settings:?}");
    assert!(!shown.contains("whsec_do_not_print"), "{shown}");
}

#[test]
fn a_secret_parsed_from_settings_may_not_be_empty() {
    assert_eq!("".parse::<WebhookSecret>().map(|_| ()), Err(EmptySecret));
    let parsed: WebhookSecret = "whsec_a".parse().expect("a secret");
    let header = sign(&parsed, signed_at(), BODY);
    assert_eq!(
        verify(&secret("whsec_a"), Some(&header), BODY, signed_at()),
        Ok(())
    );
}
