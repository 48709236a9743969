//! What verification accepts and what it refuses: every forgery an attacker could try, and
//! expiry against a clock the test sets.

use std::sync::Arc;
use std::time::Duration;

use auth::{Claims, KeyRing, LEEWAY, TokenError};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::Ed25519KeyPair;
use chrono::{TimeDelta, Utc};
use domain::{Role, UserId};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use uuid::Uuid;

use crate::support::{Keys, compact, parts};

/// A ring on its own database, and a traveller's token it signed just now.
async fn signed_token() -> (Keys, Arc<KeyRing>, String) {
    let keys = Keys::new().await;
    let ring = keys.ring().await;
    let token = ring
        .issue(UserId(1), Role::Traveller, Uuid::now_v7(), Utc::now())
        .expect("sign");
    (keys, ring, token)
}

/// `token`'s payload signed again with `algorithm` and `key`, under the ring's signing kid.
fn resign(ring: &KeyRing, token: &str, algorithm: Algorithm, key: &EncodingKey) -> String {
    let (_, payload, _) = parts(token);
    let mut header = Header::new(algorithm);
    header.kid = Some(ring.signing_kid());
    jsonwebtoken::encode(&header, &payload, key).expect("sign")
}

#[tokio::test]
async fn a_token_the_ring_issued_verifies_to_its_claims() {
    let keys = Keys::new().await;
    let ring = keys.ring().await;
    let (session, now) = (Uuid::now_v7(), Utc::now());

    let token = ring
        .issue(UserId(7), Role::Traveller, session, now)
        .expect("sign");
    let claims = ring.verify(&token).await.expect("verifies");

    assert_eq!(
        claims,
        Claims::new(
            UserId(7),
            Role::Traveller,
            session,
            now,
            Duration::from_secs(15 * 60)
        )
    );
    let (header, payload, _) = parts(&token);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["kid"], ring.signing_kid());
    assert_eq!(payload["sub"], "7");
    assert_eq!(payload["iss"], "booking");
}

#[tokio::test]
async fn a_token_with_alg_none_is_refused() {
    let (_keys, ring, token) = signed_token().await;
    let (mut header, payload, _) = parts(&token);
    header["alg"] = json!("none");

    for unsigned in [
        compact(&header, &payload, ""),
        compact(&header, &payload, "x"),
    ] {
        assert_eq!(ring.verify(&unsigned).await, Err(TokenError::Malformed));
    }
}

#[tokio::test]
async fn a_token_with_another_algorithm_is_refused() {
    let (_keys, ring, token) = signed_token().await;
    let public_key = ring.jwks()["keys"][0]["x"].as_str().expect("x").to_owned();

    // The classic confusion: HMAC keyed with the public key, which anyone can read.
    let hmac_key = EncodingKey::from_secret(public_key.as_bytes()).expect("an HMAC key");
    let forged = resign(&ring, &token, Algorithm::HS256, &hmac_key);

    assert_eq!(ring.verify(&forged).await, Err(TokenError::WrongAlgorithm));
}

#[tokio::test]
async fn a_token_signed_by_another_key_under_a_known_kid_is_refused() {
    let (_keys, ring, token) = signed_token().await;
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("a key");

    let forged = resign(
        &ring,
        &token,
        Algorithm::EdDSA,
        &EncodingKey::from_ed_der(pkcs8.as_ref()),
    );

    assert_eq!(ring.verify(&forged).await, Err(TokenError::BadSignature));
}

#[tokio::test]
async fn a_token_of_another_key_ring_is_refused_for_its_unknown_kid() {
    let (ours, theirs) = (Keys::new().await, Keys::new().await);
    let (ring, foreign) = (ours.ring().await, theirs.ring().await);
    let token = foreign
        .issue(UserId(1), Role::Admin, Uuid::now_v7(), Utc::now())
        .expect("sign");

    assert_eq!(ring.verify(&token).await, Err(TokenError::UnknownKey));
}

#[tokio::test]
async fn a_token_without_a_kid_is_refused() {
    let (_keys, ring, token) = signed_token().await;
    let (mut header, payload, signature) = parts(&token);
    header.as_object_mut().expect("an object").remove("kid");

    assert_eq!(
        ring.verify(&compact(&header, &payload, &signature)).await,
        Err(TokenError::UnknownKey)
    );
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let (_keys, ring, token) = signed_token().await;
    let (header, mut payload, signature) = parts(&token);
    payload["role"] = json!("admin");

    assert_eq!(
        ring.verify(&compact(&header, &payload, &signature)).await,
        Err(TokenError::BadSignature)
    );
}

#[tokio::test]
async fn garbage_is_refused_as_malformed() {
    let keys = Keys::new().await;
    let ring = keys.ring().await;

    for garbage in ["", "abc", "a.b.c", "..", "eyJhbGciOiJFZERTQSJ9.e30"] {
        assert_eq!(
            ring.verify(garbage).await,
            Err(TokenError::Malformed),
            "{garbage:?}"
        );
    }
}

#[tokio::test]
async fn a_token_is_accepted_until_its_expiry_plus_the_leeway_and_refused_after() {
    let keys = Keys::new().await;
    let ring = keys.ring().await;
    let issued = Utc::now();
    let token = ring
        .issue(UserId(1), Role::Traveller, Uuid::now_v7(), issued)
        .expect("sign");
    let expiry = issued + TimeDelta::from_std(ring.settings().token_lifetime).expect("a delta");
    let leeway = TimeDelta::from_std(LEEWAY).expect("a delta");

    assert!(ring.verify_at(&token, expiry).await.is_ok());
    assert!(ring.verify_at(&token, expiry + leeway).await.is_ok());
    assert_eq!(
        ring.verify_at(&token, expiry + leeway + TimeDelta::seconds(1))
            .await,
        Err(TokenError::Expired)
    );
}

#[tokio::test]
async fn the_token_lifetime_is_configurable() {
    let keys = Keys::new().await;
    let ring = keys
        .ring_with(auth::KeyRingSettings {
            token_lifetime: Duration::from_secs(60),
            ..Default::default()
        })
        .await;
    let issued = Utc::now();
    let token = ring
        .issue(UserId(1), Role::Traveller, Uuid::now_v7(), issued)
        .expect("sign");

    let (_, payload, _) = parts(&token);
    assert_eq!(payload["exp"].as_i64(), Some(issued.timestamp() + 60));
    let past_leeway = issued + TimeDelta::seconds(60 + 30 + 1);
    assert_eq!(
        ring.verify_at(&token, past_leeway).await,
        Err(TokenError::Expired)
    );
}
