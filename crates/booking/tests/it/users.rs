//! `booking users`: an operator makes the first admin and resets a password from a shell,
//! the password on standard input, never on the command line.

use crate::stack::booking;
use event_store::testing::TestDatabase;
use event_store::{EventStore, Filter, PgEventStore};
use std::io::Write;
use std::process::{Command, Output, Stdio};

const SECRET: &str = "a test secret of at least 32 bytes, shared";

fn run(database_url: &str, args: &[&str], password: &str) -> Output {
    let mut command: Command = booking(database_url);
    let mut child = command
        .env("AUTH_SECRET", SECRET)
        .arg("users")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start booking users");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("write the password");
    child.wait_with_output().expect("booking users")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn an_operator_creates_the_first_admin_once_and_resets_its_password() {
    let database = TestDatabase::create().await;
    let email = ["create-admin", "--email", "root@example.org"];
    let created = run(&database.url, &email, "correct horse");
    assert!(created.status.success(), "{created:?}");
    assert!(
        stdout(&created).starts_with("created admin account "),
        "{created:?}"
    );
    let again = run(&database.url, &email, "another one");
    assert!(again.status.success(), "{again:?}");
    assert!(
        stdout(&again).contains("already holds this email"),
        "{again:?}"
    );

    let short = run(
        &database.url,
        &["create-admin", "--email", "x@example.org"],
        "short",
    );
    assert!(!short.status.success());
    assert!(
        !String::from_utf8_lossy(&short.stderr).contains("short"),
        "never echoed"
    );

    let reset = run(
        &database.url,
        &["reset-password", "--email", "root@example.org"],
        "a new secret",
    );
    assert!(reset.status.success(), "{reset:?}");
    let nobody = run(
        &database.url,
        &["reset-password", "--email", "nobody@example.org"],
        "a new secret",
    );
    assert_eq!(nobody.status.code(), Some(1), "{nobody:?}");

    let store = PgEventStore::new(database.pool(2).await)
        .await
        .expect("store");
    let log = store
        .read_all(None, &Filter::all(), 100)
        .await
        .expect("log");
    let types: Vec<&str> = log.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        vec!["EmailClaimed", "UserRegistered", "PasswordChanged"]
    );
    assert_eq!(log[1].data["role"], "admin");
    assert!(
        !format!("{log:?}").contains("root@example.org"),
        "the email is never readable in the log"
    );
}

#[tokio::test]
async fn an_operator_rotates_the_signing_keys_without_signing_anyone_out() {
    let database = TestDatabase::create().await;
    let rotate = || {
        booking(&database.url)
            .env("AUTH_SECRET", SECRET)
            .arg("rotate-keys")
            .output()
            .expect("booking rotate-keys")
    };
    let first = rotate();
    assert!(first.status.success(), "{first:?}");
    let second = rotate();
    assert!(second.status.success(), "{second:?}");
    assert_ne!(stdout(&first), stdout(&second));
    let pool = database.pool(2).await;
    // The first key (made at load), then one per rotation; the older ones retire later.
    let (keys, retiring): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(retire_after) FROM auth.signing_keys")
            .fetch_one(&pool)
            .await
            .expect("the keys");
    assert_eq!((keys, retiring), (3, 2));
    let without = booking(&database.url)
        .arg("rotate-keys")
        .output()
        .expect("run");
    assert!(!without.status.success(), "no secret, no rotation");
}
