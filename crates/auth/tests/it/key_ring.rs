//! The key ring as several instances share it: one table, keys sealed at rest, each instance
//! accepting the others' tokens, and the JWKS it publishes.

use auth::{KeyRing, KeyRingError, KeyRingSettings, TokenError};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use domain::{Role, UserId};
use uuid::Uuid;

use crate::support::{Keys, secret};

#[tokio::test]
async fn two_instances_on_one_database_accept_each_others_tokens() {
    let keys = Keys::new().await;
    let (gateway, command_api) = (keys.ring().await, keys.ring().await);
    let session = Uuid::now_v7();

    let from_gateway = gateway
        .issue(UserId(3), Role::Traveller, session, Utc::now())
        .expect("sign");
    let from_api = command_api
        .issue(UserId(4), Role::Admin, session, Utc::now())
        .expect("sign");

    assert_eq!(
        command_api.verify(&from_gateway).await.map(|c| c.user_id),
        Ok(UserId(3))
    );
    assert_eq!(
        gateway.verify(&from_api).await.map(|c| c.user_id),
        Ok(UserId(4))
    );
}

#[tokio::test]
async fn a_restarted_instance_accepts_the_tokens_issued_before() {
    let keys = Keys::new().await;
    let token = keys
        .ring()
        .await
        .issue(UserId(5), Role::Traveller, Uuid::now_v7(), Utc::now())
        .expect("sign");

    let restarted = keys.ring().await;

    assert_eq!(
        restarted.verify(&token).await.map(|c| c.user_id),
        Ok(UserId(5))
    );
}

#[tokio::test]
async fn instances_starting_at_once_create_one_first_key() {
    let keys = Keys::new().await;

    let (a, b, c) = tokio::join!(keys.ring(), keys.ring(), keys.ring());

    assert_eq!(keys.key_count().await, 1);
    assert_eq!(a.signing_kid(), b.signing_kid());
    assert_eq!(b.signing_kid(), c.signing_kid());
}

#[tokio::test]
async fn private_keys_rest_sealed() {
    let keys = Keys::new().await;
    keys.ring().await;
    let (private_key, public_key): (Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT private_key, public_key FROM auth.signing_keys")
            .fetch_one(&keys.pool)
            .await
            .expect("the stored key");

    // An Ed25519 PKCS#8 document carries the algorithm's OID and, in version 2, the public
    // key: a stored key in the clear would show both.
    const ED25519_OID: [u8; 5] = [0x06, 0x03, 0x2b, 0x65, 0x70];
    let clear = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("a key");
    let clear_public = Ed25519KeyPair::from_pkcs8(clear.as_ref()).expect("parses");
    assert!(contains(clear.as_ref(), &ED25519_OID));
    assert!(contains(clear.as_ref(), clear_public.public_key().as_ref()));

    assert_eq!(public_key.len(), 32);
    assert!(!contains(&private_key, &ED25519_OID));
    assert!(!contains(&private_key, &public_key));
}

#[tokio::test]
async fn an_instance_with_another_secret_is_refused_at_load() {
    let keys = Keys::new().await;
    keys.ring().await;

    let other = KeyRing::load(keys.pool.clone(), &secret(2), KeyRingSettings::default()).await;

    assert!(
        matches!(other, Err(KeyRingError::WrongSecret { .. })),
        "{other:?}"
    );
}

#[tokio::test]
async fn the_jwks_lists_each_verifying_key_as_an_okp_key() {
    let keys = Keys::new().await;
    let ring = keys.ring().await;
    let public_key: Vec<u8> = sqlx::query_scalar("SELECT public_key FROM auth.signing_keys")
        .fetch_one(&keys.pool)
        .await
        .expect("the stored key");

    assert_eq!(
        ring.jwks(),
        serde_json::json!({"keys": [{
            "kty": "OKP",
            "crv": "Ed25519",
            "kid": ring.signing_kid(),
            "x": URL_SAFE_NO_PAD.encode(&public_key),
            "alg": "EdDSA",
            "use": "sig",
        }]})
    );
}

#[tokio::test]
async fn the_ring_never_prints_key_material() {
    let keys = Keys::new().await;
    let ring = keys.ring().await;

    let printed = format!("{ring:?}");

    assert!(printed.contains(&ring.signing_kid()), "{printed}");
    let x = ring.jwks()["keys"][0]["x"].as_str().expect("x").to_owned();
    assert!(!printed.contains(&x), "{printed}");
    assert!(!printed.to_lowercase().contains("secret"), "{printed}");
}

#[tokio::test]
async fn an_unknown_kid_reloads_the_ring_at_most_once_per_few_seconds() {
    let keys = Keys::new().await;
    let (rotating, other) = (keys.ring().await, keys.ring().await);
    let stranger = Keys::new().await.ring().await;
    let t0 = Utc::now();

    // A kid nobody here knows sends `other` to the database once...
    let forged = stranger
        .issue(UserId(1), Role::Admin, Uuid::now_v7(), t0)
        .expect("sign");
    assert_eq!(
        other.verify_at(&forged, t0).await,
        Err(TokenError::UnknownKey)
    );
    // ...so a key rotated in just after stays unknown to it for a few seconds,
    rotating.rotate().await.expect("rotate");
    let fresh = rotating
        .issue(UserId(2), Role::Traveller, Uuid::now_v7(), t0)
        .expect("sign");
    let soon = t0 + chrono::TimeDelta::seconds(1);
    assert_eq!(
        other.verify_at(&fresh, soon).await,
        Err(TokenError::UnknownKey)
    );
    // ...and is accepted once they have passed.
    let later = t0 + chrono::TimeDelta::from_std(auth::RELOAD_UNKNOWN_KID_EVERY).expect("delta");
    assert_eq!(
        other.verify_at(&fresh, later).await.map(|c| c.user_id),
        Ok(UserId(2))
    );
}

#[tokio::test]
async fn a_key_another_instance_rotated_in_is_accepted_at_once() {
    let keys = Keys::new().await;
    let (rotating, other) = (keys.ring().await, keys.ring().await);

    rotating.rotate().await.expect("rotate");
    let token = rotating
        .issue(UserId(8), Role::Traveller, Uuid::now_v7(), Utc::now())
        .expect("sign");

    assert_eq!(other.verify(&token).await.map(|c| c.user_id), Ok(UserId(8)));
}

#[tokio::test]
async fn a_fresh_ring_signs_with_the_key_another_instance_rotated_in() {
    let keys = Keys::new().await;
    let rotating = keys.ring().await;
    let other = keys
        .ring_with(KeyRingSettings {
            refresh_every: std::time::Duration::from_millis(50),
            ..KeyRingSettings::default()
        })
        .await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let refresher = tokio::spawn(other.clone().keep_fresh(shutdown.clone()));

    let new_kid = rotating.rotate().await.expect("rotate");

    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while other.signing_kid() != new_kid {
        assert!(tokio::time::Instant::now() < deadline, "never refreshed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    refresher.await.expect("the refresher stops on shutdown");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
