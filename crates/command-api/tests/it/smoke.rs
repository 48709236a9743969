//! The documented flow end to end.

use crate::support::TestApp;
use serde_json::json;

#[tokio::test]
async fn the_documented_flow_reads_its_own_writes() {
    let app = TestApp::spawn().await;
    let train = app.train(100).await;
    assert_eq!(train, 1);
    let (status, body) = app.get("/trains/1").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"route": "Chisinau-Bucuresti", "departure_time": "2024-09-25T06:30",
               "arrival_time": "2024-09-26T11:40", "available_seats": 100, "id": 1})
    );
    let (status, booking) = app
        .post(
            "/bookings",
            json!({"train_id": 1, "user_credentials": "Tom Ford"}),
        )
        .await;
    assert_eq!((status, booking), (200, json!(1)));
    let (_, body) = app.get("/bookings/1").await;
    assert_eq!(
        body,
        json!({"train_id": 1, "user_credentials": "Tom Ford", "id": 1, "seat": "1-1", "price": {"amount": 0, "currency": "EUR"}})
    );
    let (_, body) = app.get("/trains/1").await;
    assert_eq!(body["available_seats"], 99);
}
