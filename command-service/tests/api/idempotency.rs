//! `Idempotency-Key`: repeats, including racing ones, create one message.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{Answer, Session, TestApp};

fn keyed_send(session: &Session, key: &str) -> Request<Body> {
    Request::post("/api/messages/send")
        .header("cookie", format!("hs_session={}", session.cookie))
        .header("x-csrf-token", &session.csrf)
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(Body::from(
            json!({"recipient": "bob", "subject": "Once", "content": "only once"}).to_string(),
        ))
        .expect("request")
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn sixteen_racing_retries_create_one_message_and_answer_the_same_body(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    let answers: Vec<Answer> =
        futures::future::join_all((0..16).map(|_| app.raw(keyed_send(&alice, "retry-key-1"))))
            .await;
    let first = &answers[0];
    for answer in &answers {
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        assert_eq!(answer.body, first.body);
    }
    assert_eq!(app.event_count().await, 1);
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_later_repeat_answers_the_first_body_and_other_keys_or_users_do_not(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    let bob = app.login("bob").await;
    let first = app.raw(keyed_send(&alice, "k")).await;
    let again = app.raw(keyed_send(&alice, "k")).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body, first.body);
    assert!(again.header("x-consistency-token").is_some());
    let other_key = app.raw(keyed_send(&alice, "k2")).await;
    assert_ne!(other_key.body["message_id"], first.body["message_id"]);
    // Bob using the same key string is a different message (to himself: refused as such).
    let bobs = app.raw(keyed_send(&bob, "k")).await;
    assert_eq!(bobs.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.event_count().await, 2);
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn an_invalid_key_is_invalid_input(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    let answer = app.raw(keyed_send(&alice, &"k".repeat(129))).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.event_count().await, 0);
}
