//! Personal data at rest, through the real binary (`AUTH=required`): after an account
//! registers, signs in, fails a login, books for itself and for a named traveller (once with an
//! `Idempotency-Key`, once through start-booking) and is erased, a `pg_dump` of each database the
//! stack uses (event log, read models and accounts; the warehouse, fed through RabbitMQ) and
//! every Redis key it wrote hold neither its
//! username, its email nor its traveller's name, in any case. They hold none before the erasure
//! either: personal data is only ever stored sealed.

use crate::stack::{Stack, amqp_url, booking, eventually, redis_url};
use etl::testing::TestTopology;
use event_store::testing::TestDatabase;
use serde_json::json;

const USERNAME: &str = "wilhelmina_quarterman";
const EMAIL: &str = "Wilhelmina.Quarterman@example.org";
const TRAVELLER: &str = "Cornelius Fairweather";

fn dump(url: &str) -> String {
    let output = std::process::Command::new("pg_dump")
        .arg(url)
        .output()
        .expect("run pg_dump");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).to_lowercase()
}

fn redis_dump(prefix: &str) -> String {
    let redis = redis_url();
    let keys = std::process::Command::new("redis-cli")
        .args(["-u", &redis, "--scan", "--pattern", &format!("{prefix}*")])
        .output()
        .expect("run redis-cli");
    let keys = String::from_utf8_lossy(&keys.stdout).into_owned();
    let mut all = keys.clone();
    for key in keys.lines() {
        let value = std::process::Command::new("redis-cli")
            .args(["-u", &redis, "--raw", "dump", key])
            .output()
            .expect("run redis-cli");
        all.push_str(&String::from_utf8_lossy(&value.stdout));
    }
    all.to_lowercase()
}

fn assert_nowhere(what: &str, text: &str) {
    for secret in [
        USERNAME,
        EMAIL,
        TRAVELLER,
        "wilhelmina",
        "quarterman",
        "cornelius",
        "fairweather",
    ] {
        assert!(
            !text.contains(&secret.to_lowercase()),
            "{what} holds {secret:?} readable"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_account_leaves_no_readable_trace_in_the_databases_or_redis() {
    let database = TestDatabase::create().await;
    let prefix = format!("erasure-{}:", uuid::Uuid::now_v7().simple());
    let topology = TestTopology::new(&amqp_url());
    let warehouse = TestDatabase::create().await;
    let mut command = booking(&database.url);
    command
        .env("WAREHOUSE", "true")
        .env("AMQP_URL", &topology.amqp.url)
        .env("AMQP_PREFIX", &topology.amqp.prefix)
        .env("WAREHOUSE_DATABASE_URL", &warehouse.url)
        .env("AUTH", "required")
        .env("AUTH_SECRET", "a test secret of at least 32 bytes, shared")
        .env("ADMIN_EMAIL", "root@example.org")
        .env("ADMIN_PASSWORD", "correct horse")
        .env("REDIS_URL", redis_url())
        .env("REDIS_KEY_PREFIX", &prefix);
    let stack = Stack::all(command).await;
    let http = &stack.http;
    let at = |path: &str| format!("{}{path}", stack.gateway);

    let registration = json!({"username": USERNAME, "email": EMAIL, "password": "correct horse"});
    let (status, body) = http.post(&at("/api/users/register"), &registration).await;
    assert_eq!(status, 201, "{body}");
    let wrong = json!({"email": EMAIL, "password": "wrong password"});
    assert_eq!(http.post(&at("/api/users/login"), &wrong).await.0, 401);
    let credentials = json!({"email": EMAIL, "password": "correct horse"});
    let (status, login) = http.post(&at("/api/users/login"), &credentials).await;
    assert_eq!(status, 200, "{login}");
    let token = login["token"].as_str().expect("a token");
    let root = json!({"email": "root@example.org", "password": "correct horse"});
    let (_, admin) = http.post(&at("/api/users/login"), &root).await;
    let admin = admin["token"].as_str().expect("the admin's token");

    let client = reqwest::Client::new();
    let train = json!({"route": "Chisinau-Bucuresti", "departure_time": "2099-09-25T06:30",
                       "arrival_time": "2099-09-26T11:40", "available_seats": 10});
    let created = client
        .post(at("/ts/trains"))
        .bearer_auth(admin)
        .json(&train)
        .send()
        .await
        .expect("a train");
    assert_eq!(created.status().as_u16(), 200);
    let train_id: i64 = created.json().await.expect("its id");
    for (path, body, key) in [
        ("/ts/bookings", json!({"train_id": train_id}), None),
        (
            "/ts/bookings",
            json!({"train_id": train_id, "user_credentials": TRAVELLER}),
            Some("booking-1"),
        ),
        (
            "/start-booking",
            json!({"train_id": train_id, "user_credentials": "Tom"}),
            Some("booking-2"),
        ),
    ] {
        let mut request = client.post(at(path)).bearer_auth(token).json(&body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let booked = request.send().await.expect("a booking");
        assert_eq!(booked.status().as_u16(), 200, "{path}");
    }

    assert_nowhere("the database, before erasure", &dump(&database.url));
    assert_nowhere("Redis, before erasure", &redis_dump(&prefix));

    let erased = reqwest::Client::new()
        .delete(at("/api/users/profile"))
        .bearer_auth(token)
        .send()
        .await
        .expect("erase");
    assert_eq!(erased.status().as_u16(), 200);
    // Its bookings ahead are cancelled: the seats are free again.
    let (_, shown) = http.get(&at(&format!("/ts/trains/{train_id}"))).await;
    assert_eq!(shown["available_seats"], 10, "{shown}");
    // The warehouse has loaded everything up to the cancellation the erasure called for.
    let warehouse_pool = warehouse.pool(2).await;
    eventually("the warehouse to load the cancellation", || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM warehouse.fact_booking WHERE cancel_reason = 'owner_erased'",
        )
        .fetch_one(&warehouse_pool)
        .await
        .unwrap_or_default()
            == 3
    })
    .await;
    assert_nowhere("the warehouse, after erasure", &dump(&warehouse.url));
    let dumped = dump(&database.url);
    assert_nowhere("the database, after erasure", &dumped);
    assert_nowhere("Redis, after erasure", &redis_dump(&prefix));
    // What would open the sealed profile is gone with the account.
    assert!(
        dumped.contains("accounts.data_keys"),
        "the dump covers the accounts"
    );
    let (status, _) = http.post(&at("/api/users/login"), &credentials).await;
    assert_eq!(status, 401);
}
