//! Rotation without downtime: the new key signs at once, the old one verifies what it signed
//! until those tokens have expired, and not after.

use std::time::Duration;

use auth::{Claims, KeyRingSettings, TokenError};
use chrono::{TimeDelta, Utc};
use domain::{Role, UserId};
use uuid::Uuid;

use crate::support::Keys;

/// Signed with a lifetime far beyond the retirement grace, so that only retirement, never
/// expiry, can refuse it within these tests.
fn long_lived(user_id: i64) -> Claims {
    Claims::new(
        UserId(user_id),
        Role::Traveller,
        Uuid::now_v7(),
        Utc::now(),
        Duration::from_secs(7 * 24 * 3600),
    )
}

#[tokio::test]
async fn after_a_rotation_the_new_key_signs_and_the_old_tokens_still_verify() {
    let keys = Keys::new().await;
    let ring = keys.ring().await;
    let old_kid = ring.signing_kid();
    let before = ring.sign(&long_lived(1)).expect("sign");

    let new_kid = ring.rotate().await.expect("rotate");

    assert_ne!(new_kid, old_kid);
    assert_eq!(ring.signing_kid(), new_kid);
    let after = ring.sign(&long_lived(2)).expect("sign");
    assert_eq!(ring.verify(&before).await.map(|c| c.user_id), Ok(UserId(1)));
    assert_eq!(ring.verify(&after).await.map(|c| c.user_id), Ok(UserId(2)));
    let restarted = keys.ring().await;
    assert_eq!(restarted.signing_kid(), new_kid);
    assert_eq!(
        restarted.verify(&before).await.map(|c| c.user_id),
        Ok(UserId(1))
    );
}

#[tokio::test]
async fn the_old_key_stops_verifying_once_its_grace_has_passed() {
    let keys = Keys::new().await;
    let ring = keys.ring().await;
    let before = ring.sign(&long_lived(1)).expect("sign");
    let rotated_at = Utc::now();

    ring.rotate().await.expect("rotate");
    let after = ring.sign(&long_lived(2)).expect("sign");

    let grace = KeyRingSettings::default().retirement_grace();
    let within = rotated_at + TimeDelta::from_std(grace).expect("delta") - TimeDelta::seconds(5);
    let past = rotated_at + TimeDelta::from_std(grace).expect("delta") + TimeDelta::seconds(5);
    assert!(ring.verify_at(&before, within).await.is_ok());
    assert_eq!(
        ring.verify_at(&before, past).await,
        Err(TokenError::UnknownKey)
    );
    assert_eq!(
        ring.verify_at(&after, past).await.map(|c| c.user_id),
        Ok(UserId(2))
    );
}

#[tokio::test]
async fn the_jwks_lists_a_retiring_key_until_its_grace_has_passed() {
    let keys = Keys::new().await;
    let ring = keys.ring().await;
    let old_kid = ring.signing_kid();
    let rotated_at = Utc::now();
    let new_kid = ring.rotate().await.expect("rotate");

    let kids = |jwks: serde_json::Value| -> Vec<String> {
        jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| k["kid"].as_str().expect("kid").to_owned())
            .collect()
    };
    let grace = TimeDelta::from_std(KeyRingSettings::default().retirement_grace()).expect("delta");
    assert_eq!(kids(ring.jwks()), [old_kid, new_kid.clone()]);
    assert_eq!(
        kids(ring.jwks_at(rotated_at + grace + TimeDelta::seconds(5))),
        [new_kid]
    );
}

#[tokio::test]
async fn a_rotation_deletes_keys_whose_grace_has_passed() {
    let keys = Keys::new().await;
    let ring = keys.ring().await;
    let first = ring.signing_kid();
    ring.rotate().await.expect("rotate");
    sqlx::query(
        "UPDATE auth.signing_keys SET retire_after = now() - interval '1 second' WHERE kid = $1",
    )
    .bind(&first)
    .execute(&keys.pool)
    .await
    .expect("let the grace pass");
    assert_eq!(keys.key_count().await, 2);

    ring.rotate().await.expect("rotate again");

    let kids: Vec<String> = sqlx::query_scalar("SELECT kid FROM auth.signing_keys")
        .fetch_all(&keys.pool)
        .await
        .expect("kids");
    assert_eq!(kids.len(), 2);
    assert!(!kids.contains(&first), "{kids:?}");
}

#[tokio::test]
async fn a_ring_loaded_after_a_key_retired_no_longer_knows_it() {
    let keys = Keys::new().await;
    let ring = keys.ring().await;
    let before = ring.sign(&long_lived(1)).expect("sign");
    ring.rotate().await.expect("rotate");
    sqlx::query("UPDATE auth.signing_keys SET retire_after = now() - interval '1 second' WHERE retire_after IS NOT NULL")
        .execute(&keys.pool)
        .await
        .expect("let the grace pass");

    let restarted = keys.ring().await;

    assert_eq!(restarted.verify(&before).await, Err(TokenError::UnknownKey));
    assert_eq!(restarted.jwks()["keys"].as_array().map(Vec::len), Some(1));
}
