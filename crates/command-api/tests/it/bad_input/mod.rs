//! Hostile and careless input: every refusal has the documented shape, and none of them
//! records an event or moves a read model. Each test seeds train 1 with booking 1, sends a
//! table of bad requests, then checks that nothing changed.

mod fields;
mod requests;

use crate::support::TestApp;
use event_store::RecordedEvent;
use reqwest::Method;
use serde_json::Value;

/// One bad request and the exact answer it must get.
struct Case {
    method: Method,
    path: String,
    body: String,
    status: u16,
    expected: Value,
}

fn case(
    method: Method,
    path: &str,
    body: impl Into<String>,
    status: u16,
    expected: &Value,
) -> Case {
    let (path, body, expected) = (path.to_owned(), body.into(), expected.clone());
    Case {
        method,
        path,
        body,
        status,
        expected,
    }
}

/// Seeds a server, sends every case verbatim as JSON, and checks nothing changed.
async fn refused_without_a_trace(cases: Vec<Case>) {
    let app = TestApp::spawn().await;
    let untouched = Untouched::seed(&app).await;
    for Case {
        method,
        path,
        body,
        status,
        expected,
    } in cases
    {
        let request = app
            .request(method.clone(), &path)
            .header("content-type", "application/json")
            .body(body.clone());
        let reply = app.raw(request).await;
        assert_eq!(
            reply.header("content-type"),
            "application/json",
            "{method} {path}"
        );
        assert_eq!(
            (reply.status, reply.body),
            (status, expected),
            "{method} {path} {body}"
        );
    }
    untouched.check(&app).await;
}

/// The log, both lists and the capacities (which no GET shows) before the bad requests.
struct Untouched {
    log: Vec<RecordedEvent>,
    capacities: Vec<(i64, i32)>,
    trains: (u16, Value),
    bookings: (u16, Value),
}

impl Untouched {
    /// Train 1 with booking 1, then a snapshot of everything.
    async fn seed(app: &TestApp) -> Self {
        assert_eq!(app.train(100).await, 1);
        assert_eq!(app.book(1, "Tom Ford").await, 1);
        Self {
            log: app.log().await,
            capacities: capacities(app).await,
            trains: app.get("/trains").await,
            bookings: app.get("/bookings").await,
        }
    }

    async fn check(self, app: &TestApp) {
        let ids = |log: &[RecordedEvent]| log.iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(ids(&app.log().await), ids(&self.log), "the log changed");
        assert_eq!(capacities(app).await, self.capacities);
        assert_eq!(app.get("/trains").await, self.trains);
        assert_eq!(app.get("/bookings").await, self.bookings);
    }
}

async fn capacities(app: &TestApp) -> Vec<(i64, i32)> {
    sqlx::query_as("SELECT id, capacity FROM read_models.trains ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .expect("read capacities")
}
