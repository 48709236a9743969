//! The vault: each account's data key seals its personal data, opens only its own, tags it,
//! and once destroyed leaves nothing that opens it; emails meet by a keyed hash.

use crate::support::{Keys, secret};
use auth::Vault;
use domain::UserId;

#[tokio::test]
async fn an_accounts_key_opens_what_it_sealed_and_nothing_else() {
    let keys = Keys::new().await;
    let vault = Vault::new(keys.pool.clone(), &keys.secret);
    let ann = vault.create(UserId(1)).await.expect("a key");
    let bob = vault.create(UserId(2)).await.expect("a key");
    let sealed = ann.seal("Ann Lee");
    assert!(!sealed.0.contains("Ann"));
    assert_eq!(ann.open(&sealed).as_deref(), Some("Ann Lee"));
    assert_eq!(bob.open(&sealed), None);
    // Sealing twice gives different text: nothing can be learnt by comparing ciphertexts.
    assert_ne!(ann.seal("Ann Lee"), sealed);
}

#[tokio::test]
async fn a_retried_creation_gets_the_same_key() {
    let keys = Keys::new().await;
    let vault = Vault::new(keys.pool.clone(), &keys.secret);
    let first = vault.create(UserId(1)).await.expect("a key");
    let again = vault.create(UserId(1)).await.expect("the same key");
    assert_eq!(again.open(&first.seal("x")).as_deref(), Some("x"));
}

#[tokio::test]
async fn a_destroyed_key_is_gone_for_good() {
    let keys = Keys::new().await;
    let vault = Vault::new(keys.pool.clone(), &keys.secret);
    let sealed = vault
        .create(UserId(1))
        .await
        .expect("a key")
        .seal("Ann Lee");
    vault.create(UserId(2)).await.expect("a key");
    vault.destroy(UserId(1)).await.expect("destroy");
    assert!(vault.key(UserId(1)).await.expect("read").is_none());
    let left = vault
        .keys(&[UserId(1), UserId(2), UserId(3)])
        .await
        .expect("read");
    assert_eq!(left.keys().copied().collect::<Vec<_>>(), vec![UserId(2)]);
    // A new key for the same id (which ids never are, but still) does not open the old data.
    let new = vault.create(UserId(1)).await.expect("a new key");
    assert_eq!(new.open(&sealed), None);
}

#[tokio::test]
async fn keys_rest_sealed_and_open_only_with_their_secret() {
    let keys = Keys::new().await;
    let vault = Vault::new(keys.pool.clone(), &keys.secret);
    vault.create(UserId(1)).await.expect("a key");
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT sealed FROM accounts.data_keys WHERE user_id = 1")
            .fetch_one(&keys.pool)
            .await
            .expect("the stored key");
    assert!(stored.len() > 32, "nonce, key and tag");
    let other = Vault::new(keys.pool.clone(), &secret(2));
    assert!(other.key(UserId(1)).await.expect("read").is_none());
}

#[tokio::test]
async fn tags_are_equal_for_equal_texts_of_one_account_only() {
    let keys = Keys::new().await;
    let vault = Vault::new(keys.pool.clone(), &keys.secret);
    let ann = vault.create(UserId(1)).await.expect("a key");
    let bob = vault.create(UserId(2)).await.expect("a key");
    assert_eq!(ann.tag("Ann Lee"), ann.tag("Ann Lee"));
    assert_ne!(ann.tag("Ann Lee"), ann.tag("Bob Roe"));
    assert_ne!(ann.tag("Ann Lee"), bob.tag("Ann Lee"));
    assert!(!ann.tag("Ann Lee").contains("Ann"));
}

#[tokio::test]
async fn an_email_is_known_by_a_keyed_hash_of_its_normalised_form() {
    let keys = Keys::new().await;
    let vault = Vault::new(keys.pool.clone(), &keys.secret);
    let key = vault.email_key("ann@example.org");
    assert_eq!(vault.email_key("  Ann@Example.ORG "), key);
    assert_ne!(vault.email_key("bob@example.org"), key);
    assert!(!key.0.contains("ann") && key.0.len() == 64);
    // Another secret, another key: the hash is not a plain digest anyone could recompute.
    assert_ne!(
        Vault::new(keys.pool.clone(), &secret(2)).email_key("ann@example.org"),
        key
    );
}

#[tokio::test]
async fn request_fingerprints_are_keyed_by_the_secret() {
    let keys = Keys::new().await;
    let vault = Vault::new(keys.pool.clone(), &keys.secret);
    let request = br#"{"train_id":1,"user_credentials":"Tom Ford"}"#;
    assert_eq!(vault.fingerprint(request), vault.fingerprint(request));
    assert_ne!(vault.fingerprint(request), vault.fingerprint(b"another"));
    // Without the secret, a guess of the request cannot be checked against its fingerprint.
    let other = Vault::new(keys.pool.clone(), &secret(2));
    assert_ne!(vault.fingerprint(request), other.fingerprint(request));
    let plain: String = <sha2::Sha256 as sha2::Digest>::digest(request)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_ne!(vault.fingerprint(request), plain);
}
