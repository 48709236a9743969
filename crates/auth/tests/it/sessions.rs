//! Logins: a refresh spends its token and hands out the next; a spent token that comes back
//! revokes its whole family; logout and a password change end logins.

use crate::support::Keys;
use auth::{Refused, Sessions};
use domain::UserId;
use std::time::Duration;

const ANN: UserId = UserId(1);

async fn sessions() -> (Keys, Sessions) {
    let keys = Keys::new().await;
    let sessions = Sessions::new(keys.pool.clone(), Duration::from_secs(3600));
    (keys, sessions)
}

#[tokio::test]
async fn a_refresh_spends_its_token_and_the_next_one_renews_the_same_login() {
    let (_keys, sessions) = sessions().await;
    let login = sessions.start(ANN).await.expect("start");
    let next = sessions
        .renew(&login.refresh_token)
        .await
        .expect("database")
        .expect("renewed");
    assert_eq!((next.user_id, next.session), (ANN, login.session));
    assert_ne!(next.refresh_token, login.refresh_token);
    let after = sessions
        .renew(&next.refresh_token)
        .await
        .expect("database")
        .expect("renewed again");
    assert_eq!(after.session, login.session);
}

#[tokio::test]
async fn a_spent_token_presented_again_revokes_its_whole_login() {
    let (_keys, sessions) = sessions().await;
    let login = sessions.start(ANN).await.expect("start");
    let other = sessions.start(ANN).await.expect("another login");
    let next = sessions
        .renew(&login.refresh_token)
        .await
        .expect("database")
        .expect("renewed");
    // The thief (or the holder) replays the spent token: the family goes.
    let replayed = sessions
        .renew(&login.refresh_token)
        .await
        .expect("database");
    assert_eq!(replayed.err(), Some(Refused::Reused));
    let stolen_next = sessions.renew(&next.refresh_token).await.expect("database");
    assert_eq!(stolen_next.err(), Some(Refused::Unknown));
    assert!(!sessions.is_live(login.session).await.expect("database"));
    // Another login of the same account is not touched.
    assert!(sessions.is_live(other.session).await.expect("database"));
}

#[tokio::test]
async fn logout_ends_the_login_and_an_unknown_token_ends_nothing() {
    let (_keys, sessions) = sessions().await;
    let login = sessions.start(ANN).await.expect("start");
    assert!(!sessions.end("not a token").await.expect("database"));
    assert!(sessions.end(&login.refresh_token).await.expect("database"));
    assert!(!sessions.end(&login.refresh_token).await.expect("database"));
    let renewed = sessions
        .renew(&login.refresh_token)
        .await
        .expect("database");
    assert_eq!(renewed.err(), Some(Refused::Unknown));
}

#[tokio::test]
async fn a_password_change_ends_every_other_login_of_the_account() {
    let (_keys, sessions) = sessions().await;
    let kept = sessions.start(ANN).await.expect("start");
    let ended = sessions.start(ANN).await.expect("start");
    let bobs = sessions.start(UserId(2)).await.expect("start");
    sessions
        .end_all_but(ANN, Some(kept.session))
        .await
        .expect("database");
    assert!(sessions.is_live(kept.session).await.expect("database"));
    assert!(!sessions.is_live(ended.session).await.expect("database"));
    assert!(sessions.is_live(bobs.session).await.expect("database"));
}

#[tokio::test]
async fn an_expired_token_renews_nothing() {
    let keys = Keys::new().await;
    let sessions = Sessions::new(keys.pool.clone(), Duration::ZERO);
    let login = sessions.start(ANN).await.expect("start");
    let renewed = sessions
        .renew(&login.refresh_token)
        .await
        .expect("database");
    assert_eq!(renewed.err(), Some(Refused::Unknown));
}

#[tokio::test]
async fn forgetting_an_account_removes_its_password_and_logins() {
    let (keys, sessions) = sessions().await;
    sessions
        .set_password_hash(ANN, "$argon2id$stand-in")
        .await
        .expect("set");
    assert_eq!(
        sessions.password_hash(ANN).await.expect("read").as_deref(),
        Some("$argon2id$stand-in")
    );
    let login = sessions.start(ANN).await.expect("start");
    sessions.forget(ANN).await.expect("forget");
    assert_eq!(sessions.password_hash(ANN).await.expect("read"), None);
    assert!(!sessions.is_live(login.session).await.expect("database"));
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts.refresh_tokens")
        .fetch_one(&keys.pool)
        .await
        .expect("count");
    assert_eq!(rows, 0);
}
