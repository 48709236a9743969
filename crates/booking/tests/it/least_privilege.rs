//! Least privilege, through the real binary and the grants in `deploy/grants`: `booking migrate`
//! runs every migration as the owner of two fresh databases (read models and warehouse) and
//! grants the service roles their rights. Then the command API, the projector, the lobby
//! gateway and the etl each run as a PostgreSQL user of their own, a member of the role the
//! grants name, with `MIGRATE=skip`. They serve the whole flow: accounts, trains, bookings, a
//! lobby, an erasure, the warehouse through RabbitMQ, and a rebuild swapped in under them.
//! Connected directly, each user is then refused what is not its job: any DDL (only the owner
//! runs it), another service's tables, an edit of the log; the analyst reads the documented
//! views and nothing else.
//!
//! The roles the grants name are shared by the server's tests (roles belong to the server, not
//! to a database) and only ever hold rights on per-test databases; the login users are this
//! test's own and are dropped after its databases.

use crate::stack::{Http, Process, amqp_url, booking, eventually, free_address};
use etl::testing::TestTopology;
use event_store::testing::{TestDatabase, admin_url, block_on_elsewhere};
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection};

const SECRET: &str = "a test secret of at least 32 bytes, shared";
/// The roles of deploy/grants, by the service that logs in as a member of each.
const SERVICES: [&str; 5] = [
    "command_api",
    "projector",
    "lobby_gateway",
    "etl",
    "analyst",
];
/// PostgreSQL's SQLSTATE for "permission denied" and "must be owner".
const INSUFFICIENT_PRIVILEGE: &str = "42501";

/// This test's login users: `<prefix>_owner`, and one per service in the service's role.
struct Users {
    prefix: String,
}

impl Users {
    async fn create() -> Self {
        let prefix = format!("lp_{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
        let mut admin = PgConnection::connect(&admin_url()).await.expect("admin");
        for service in SERVICES {
            // Tests running side by side may both find the role missing: the loser of the
            // race gets one of these errors, and the role exists all the same.
            sqlx::raw_sql(&format!(
                "DO $$ BEGIN CREATE ROLE booking_{service} NOLOGIN;
                 EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
            ))
            .execute(&mut admin)
            .await
            .expect("a service role");
        }
        let users = Self { prefix };
        let owner = users.name("owner");
        sqlx::raw_sql(&format!("CREATE ROLE {owner} LOGIN PASSWORD '{owner}'"))
            .execute(&mut admin)
            .await
            .expect("the owner");
        for service in SERVICES {
            let user = users.name(service);
            sqlx::raw_sql(&format!(
                "CREATE ROLE {user} LOGIN PASSWORD '{user}' IN ROLE booking_{service}"
            ))
            .execute(&mut admin)
            .await
            .expect("a service's user");
        }
        users
    }

    fn name(&self, who: &str) -> String {
        format!("{}_{who}", self.prefix)
    }

    /// `database`'s URL, logged in as `who`.
    fn url(&self, database: &TestDatabase, who: &str) -> String {
        let mut url = reqwest::Url::parse(&database.url).expect("a database URL");
        let user = self.name(who);
        url.set_username(&user).expect("a user");
        url.set_password(Some(&user)).expect("a password");
        url.to_string()
    }

    /// Hands `database` to the owner, as a deployment creates it.
    async fn own(&self, database: &TestDatabase) {
        let mut admin = PgConnection::connect(&admin_url()).await.expect("admin");
        sqlx::raw_sql(&format!(
            "ALTER DATABASE {} OWNER TO {}",
            database.name,
            self.name("owner")
        ))
        .execute(&mut admin)
        .await
        .expect("hand the database to the owner");
    }
}

impl Drop for Users {
    fn drop(&mut self) {
        let names: Vec<String> = std::iter::once("owner")
            .chain(SERVICES)
            .map(|who| self.name(who))
            .collect();
        block_on_elsewhere(async move {
            let mut admin = PgConnection::connect(&admin_url()).await.ok()?;
            for name in names {
                let drop = format!("DROP ROLE IF EXISTS {name}");
                let _ = admin.execute(drop.as_str()).await;
            }
            Some(())
        });
    }
}

/// The SQLSTATE of a database error.
fn code(error: &sqlx::Error) -> Option<String> {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|code| code.into_owned())
}

/// Runs `sql` as the user of `url`; it must be refused for want of a privilege.
async fn refused(url: &str, who: &str, sql: &str) {
    let outcome = match PgConnection::connect(url).await {
        Ok(mut connection) => sqlx::raw_sql(sql)
            .execute(&mut connection)
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    let error = outcome
        .err()
        .unwrap_or_else(|| panic!("{who} may run {sql}"));
    assert_eq!(
        code(&error).as_deref(),
        Some(INSUFFICIENT_PRIVILEGE),
        "{who}: {sql}: {error}"
    );
}

/// Runs `sql` as the user of `url`; it must succeed. Returns the first column of its rows.
async fn allowed(url: &str, who: &str, sql: &str) -> Vec<Value> {
    let mut connection = PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("{who} connects: {e}"));
    let wrapped = format!("SELECT to_jsonb(r) FROM ({sql}) AS r");
    sqlx::query_scalar(&wrapped)
        .fetch_all(&mut connection)
        .await
        .unwrap_or_else(|e| panic!("{who}: {sql}: {e}"))
}

async fn post(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut request = http.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_runs_as_its_own_database_user_with_only_the_rights_it_needs() {
    // Declared first, dropped last: a user that owns a database cannot be dropped before it.
    let users = Users::create().await;
    let (database, warehouse) = (TestDatabase::create().await, TestDatabase::create().await);
    users.own(&database).await;
    users.own(&warehouse).await;
    let topology = TestTopology::new(&amqp_url());
    let url = |who: &str| users.url(&database, who);
    let warehouse_url = |who: &str| users.url(&warehouse, who);

    let migrated = booking(&url("owner"))
        .env("WAREHOUSE", "true")
        .env("WAREHOUSE_DATABASE_URL", warehouse_url("owner"))
        .env("MIGRATE_GRANTS", "true")
        .arg("migrate")
        .output()
        .expect("booking migrate");
    assert!(migrated.status.success(), "{migrated:?}");

    // A service that tries to migrate as its own user is refused, and says why.
    let migrating = booking(&url("command_api"))
        .env("MIGRATE", "auto")
        .env("COMMAND_API_LISTEN", free_address().to_string())
        .arg("command-api")
        .output()
        .expect("booking command-api");
    assert!(!migrating.status.success(), "{migrating:?}");
    let said = String::from_utf8_lossy(&migrating.stderr);
    assert!(said.contains("permission denied"), "{said}");

    let service = |who: &str, role: &str| {
        let mut command = booking(&url(who));
        command
            .env("MIGRATE", "skip")
            .env("AUTH", "required")
            .env("AUTH_SECRET", SECRET)
            .arg(role);
        command
    };
    let http = Http::new();
    let projector_ops = format!("http://{}", free_address());
    let mut projector = service("projector", "projector");
    projector
        .env("OPS_LISTEN", projector_ops.trim_start_matches("http://"))
        .env("WAREHOUSE", "true")
        .env("AMQP_URL", &topology.amqp.url)
        .env("AMQP_PREFIX", &topology.amqp.prefix);
    let mut projector = Process::spawn(&mut projector);
    projector.serving(&http, &projector_ops).await;

    let etl_ops = format!("http://{}", free_address());
    let mut etl = booking(&url("etl"));
    etl.env("MIGRATE", "skip")
        .env("WAREHOUSE_DATABASE_URL", warehouse_url("etl"))
        .env("ETL_OPS_LISTEN", etl_ops.trim_start_matches("http://"))
        .env("AMQP_URL", &topology.amqp.url)
        .env("AMQP_PREFIX", &topology.amqp.prefix)
        .arg("etl");
    let mut etl = Process::spawn(&mut etl);
    etl.serving(&http, &etl_ops).await;

    let api = free_address();
    let mut command_api = service("command_api", "command-api");
    command_api
        .env("COMMAND_API_LISTEN", api.to_string())
        .env("ADMIN_EMAIL", "root@example.org")
        .env("ADMIN_PASSWORD", "correct horse");
    let mut command_api = Process::spawn(&mut command_api);
    command_api.serving(&http, &format!("http://{api}")).await;

    let gateway = free_address();
    let mut lobby_gateway = service("lobby_gateway", "lobby-gateway");
    lobby_gateway
        .env("GATEWAY_LISTEN", gateway.to_string())
        .env("COMMAND_API_URLS", format!("http://{api}"))
        .env("GATEWAY_RATE_LIMIT", "0");
    let mut lobby_gateway = Process::spawn(&mut lobby_gateway);
    let gateway = format!("http://{gateway}");
    lobby_gateway.serving(&http, &gateway).await;

    // The whole flow, through the gateway.
    let client = reqwest::Client::new();
    let at = |path: &str| format!("{gateway}{path}");
    let traveller =
        json!({"username": "ann_lp", "email": "ann@example.org", "password": "correct horse"});
    let (status, body) = post(&client, at("/api/users/register"), None, traveller).await;
    assert_eq!(status, 201, "{body}");
    let login = |email: &str| json!({"email": email, "password": "correct horse"});
    let (status, ann) = post(
        &client,
        at("/api/users/login"),
        None,
        login("ann@example.org"),
    )
    .await;
    assert_eq!(status, 200, "{ann}");
    let ann = ann["token"].as_str().expect("a token").to_owned();
    let (_, root) = post(
        &client,
        at("/api/users/login"),
        None,
        login("root@example.org"),
    )
    .await;
    let root = root["token"]
        .as_str()
        .expect("the admin's token")
        .to_owned();
    let train = json!({"route": "Iasi-Cluj", "departure_time": "2099-09-25T06:30",
                       "arrival_time": "2099-09-26T11:40", "available_seats": 10});
    let (status, train_id) = post(&client, at("/ts/trains"), Some(&root), train.clone()).await;
    assert_eq!(status, 200, "{train_id}");
    let (status, lobby) = post(
        &client,
        at("/lobbies"),
        Some(&root),
        json!({"train_id": train_id}),
    )
    .await;
    assert_eq!(status, 200, "{lobby}");
    let booked = json!({"train_id": train_id});
    let (status, body) = post(&client, at("/ts/bookings"), Some(&ann), booked.clone()).await;
    assert_eq!(status, 200, "{body}");
    let for_tom = json!({"train_id": train_id, "user_credentials": "Tom"});
    let (status, body) = post(&client, at("/start-booking"), Some(&ann), for_tom).await;
    assert_eq!(status, 200, "{body}");
    // Seats: a hold, the seat map and search, each read or written by its own role.
    let held = json!({"count": 1, "class": "second"});
    let path = format!("/ts/trains/{train_id}/holds");
    let (status, body) = post(&client, at(&path), Some(&ann), held).await;
    assert_eq!(status, 201, "{body}");
    let hold = at(&format!(
        "/ts/holds/{}",
        body["hold_id"].as_str().unwrap_or("")
    ));
    let released = client
        .delete(hold)
        .bearer_auth(&ann)
        .send()
        .await
        .expect("release");
    assert_eq!(released.status().as_u16(), 200);
    let (status, map) = http.get(&at(&format!("/ts/trains/{train_id}/seats"))).await;
    assert_eq!(status, 200, "{map}");
    let search = "/ts/trains/search?from=iasi&to=cluj&date=2099-09-25";
    let (status, found) = http.get(&at(search)).await;
    assert_eq!((status, &found[0]["id"]), (200, &train_id), "{found}");
    let (status, shown) = http.get(&at(&format!("/ts/trains/{train_id}"))).await;
    assert_eq!(
        (status, &shown["available_seats"]),
        (200, &json!(8)),
        "{shown}"
    );
    let erased = client
        .delete(at("/api/users/profile"))
        .bearer_auth(&ann)
        .send()
        .await
        .expect("erase");
    assert_eq!(erased.status().as_u16(), 200);

    // The etl loaded it all; the analyst reads it through the documented views.
    let analyst = warehouse_url("analyst");
    eventually(
        "the warehouse to load the bookings and their cancellations",
        || async {
            let totals = allowed(
                &analyst,
                "the analyst",
                "SELECT sum(bookings)::bigint AS booked, sum(cancellations)::bigint AS cancelled
             FROM warehouse.bookings_per_route_day",
            )
            .await;
            totals.first() == Some(&json!({"booked": 2, "cancelled": 2}))
        },
    )
    .await;
    for view in [
        "warehouse.load_factor_per_train",
        "warehouse.cancellation_rate_per_route",
        "warehouse.lead_time_distribution",
        "warehouse.train_seats_daily",
        "warehouse.fact_booking",
        "warehouse.revenue_per_route_day",
        "warehouse.average_price_per_class",
        "warehouse.hold_outcomes",
        "warehouse.fact_hold",
        "warehouse.top_routes('2000-01-01', '2099-12-31')",
    ] {
        allowed(&analyst, "the analyst", &format!("SELECT * FROM {view}")).await;
    }

    let report = booking(&url("analyst"))
        .env("WAREHOUSE_DATABASE_URL", &analyst)
        .arg("report")
        .output()
        .expect("booking report");
    assert!(
        report.status.success(),
        "the analyst runs the report: {report:?}"
    );

    // A rebuild by the owner swaps fresh tables in under the running services: they keep
    // their rights on them (the projector writes, the API and the gateway read).
    let rebuilt = booking(&url("owner"))
        .arg("rebuild")
        .output()
        .expect("booking rebuild");
    assert!(rebuilt.status.success(), "{rebuilt:?}");
    let (status, again) = post(&client, at("/ts/trains"), Some(&root), train).await;
    assert_eq!(status, 200, "{again}");
    let (status, shown) = http.get(&at(&format!("/ts/trains/{again}"))).await;
    assert_eq!(status, 200, "{shown}");
    let (status, shown) = http.get(&at(&format!("/lobbies/{lobby}"))).await;
    assert_eq!(status, 200, "{shown}");

    // What each user may not do.
    let (api_url, projector_url, gateway_url) =
        (url("command_api"), url("projector"), url("lobby_gateway"));
    let etl_url = warehouse_url("etl");
    let mut refusals = 0;
    let mut refuse = async |url: &str, who: &str, sql: &str| {
        refused(url, who, sql).await;
        refusals += 1;
    };
    // Nobody but the owner runs DDL.
    for (url, who) in [
        (&api_url, "the command API"),
        (&projector_url, "the projector"),
        (&gateway_url, "the gateway"),
        (&etl_url, "the etl"),
        (&analyst, "the analyst"),
    ] {
        refuse(url, who, "CREATE TABLE public.intruder (id int)").await;
        refuse(url, who, "CREATE SCHEMA intruder").await;
    }
    for (url, who, table) in [
        (&api_url, "the command API", "read_models.trains"),
        (&api_url, "the command API", "event_store.events"),
        (&projector_url, "the projector", "read_models.bookings"),
        (&gateway_url, "the gateway", "read_models.lobbies"),
        (&etl_url, "the etl", "warehouse.fact_booking"),
        (&analyst, "the analyst", "warehouse.fact_booking"),
    ] {
        refuse(url, who, &format!("DROP TABLE {table}")).await;
        refuse(
            url,
            who,
            &format!("ALTER TABLE {table} ADD COLUMN intruder int"),
        )
        .await;
        refuse(url, who, &format!("TRUNCATE {table}")).await;
    }
    refuse(
        &analyst,
        "the analyst",
        "DROP VIEW warehouse.bookings_per_route_day",
    )
    .await;
    // The log is append-only, even for its writers; only the writers append.
    for (url, who) in [(&api_url, "the command API"), (&gateway_url, "the gateway")] {
        refuse(url, who, "UPDATE event_store.events SET data = '{}'").await;
        refuse(url, who, "DELETE FROM event_store.events").await;
    }
    refuse(
        &projector_url,
        "the projector",
        "SELECT * FROM event_store.append('x', -1, ARRAY[gen_random_uuid()], ARRAY['T'], ARRAY['{}'::jsonb], ARRAY['{}'::jsonb])",
    )
    .await;
    // Only the projector writes the read models.
    refuse(
        &api_url,
        "the command API",
        "DELETE FROM read_models.trains",
    )
    .await;
    refuse(
        &gateway_url,
        "the gateway",
        "UPDATE read_models.lobbies SET train_id = 0",
    )
    .await;
    // Credentials are the command API's alone.
    refuse(
        &projector_url,
        "the projector",
        "SELECT * FROM accounts.credentials",
    )
    .await;
    refuse(
        &gateway_url,
        "the gateway",
        "SELECT * FROM accounts.refresh_tokens",
    )
    .await;
    // The warehouse: the etl loads but never deletes; the analyst only reads what is documented.
    refuse(&etl_url, "the etl", "DELETE FROM warehouse.fact_booking").await;
    refuse(
        &analyst,
        "the analyst",
        "INSERT INTO warehouse.dim_route (route) VALUES ('x')",
    )
    .await;
    refuse(
        &analyst,
        "the analyst",
        "UPDATE warehouse.fact_booking SET seat_count = 0",
    )
    .await;
    refuse(
        &analyst,
        "the analyst",
        "SELECT * FROM warehouse.loaded_events",
    )
    .await;
    // Neither of the warehouse's users may even connect to the read models, nor the services
    // to the warehouse.
    refuse(&url("analyst"), "the analyst", "SELECT 1").await;
    refuse(&url("etl"), "the etl", "SELECT 1").await;
    refuse(&warehouse_url("command_api"), "the command API", "SELECT 1").await;

    // The services are still up: nothing above reached them.
    let (status, _) = http.get(&at(&format!("/ts/trains/{train_id}"))).await;
    assert_eq!(status, 200);
    println!(
        "least privilege: 4 services ran as their own users; {refusals} operations refused with {INSUFFICIENT_PRIVILEGE}"
    );
}
