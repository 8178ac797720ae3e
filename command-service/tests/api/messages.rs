//! Sending, replying and the clinician channel through HTTP.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{opened_payload, TestApp};

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn every_row_of_the_policy_table_over_http(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let table = [
        ("alice", "bob", StatusCode::CREATED),
        ("alice", "dr_carol", StatusCode::FORBIDDEN),
        ("alice", "admin", StatusCode::FORBIDDEN),
        ("alice", "auditor", StatusCode::FORBIDDEN),
        ("dr_carol", "alice", StatusCode::CREATED),
        ("dr_carol", "bob", StatusCode::FORBIDDEN),
        ("dr_dave", "alice", StatusCode::FORBIDDEN),
        ("dr_carol", "dr_dave", StatusCode::CREATED),
        ("dr_carol", "auditor", StatusCode::FORBIDDEN),
        ("admin", "alice", StatusCode::FORBIDDEN),
        ("admin", "dr_carol", StatusCode::FORBIDDEN),
        ("auditor", "bob", StatusCode::FORBIDDEN),
        ("auditor", "admin", StatusCode::FORBIDDEN),
    ];
    for (sender, recipient, expected) in table {
        let session = app.login(sender).await;
        let answer = app.send(&session, recipient, "hello").await;
        assert_eq!(
            answer.status, expected,
            "{sender} -> {recipient}: {:?}",
            answer.body
        );
        if expected == StatusCode::FORBIDDEN {
            assert_eq!(answer.code(), "forbidden");
        }
    }
    assert_eq!(app.event_count().await, 3);
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_send_answers_201_with_id_time_and_consistency_token(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    let answer = app.send(&alice, "bob", "How are you?").await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let id = answer.body["message_id"].as_str().expect("id");
    assert!(uuid::Uuid::parse_str(id).is_ok());
    let sent_at = answer.body["sent_at"].as_str().expect("sent_at");
    assert!(
        chrono::DateTime::parse_from_rfc3339(sent_at).is_ok(),
        "{sent_at}"
    );
    let token = answer.header("x-consistency-token").expect("token");
    let position: events::LogPosition = token.parse().expect("a valid token");
    assert!(position.global_position > 0);
    assert_eq!(app.event_types(id).await, vec!["MessageSent"]);
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn events_carry_actor_request_id_client_ip_and_user_agent(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    let request = Request::post("/api/messages/send")
        .header("cookie", format!("hs_session={}", alice.cookie))
        .header("x-csrf-token", &alice.csrf)
        .header("content-type", "application/json")
        .header("x-request-id", "req-abc-123")
        .header("user-agent", "test-agent/1.0")
        .body(Body::from(
            json!({"recipient": "bob", "content": "hi"}).to_string(),
        ))
        .expect("request");
    let answer = app.raw(request).await;
    assert_eq!(answer.status, StatusCode::CREATED);
    assert_eq!(answer.header("x-request-id"), Some("req-abc-123"));
    let metadata: Value = sqlx::query_scalar("SELECT metadata FROM events")
        .fetch_one(&app.pool)
        .await
        .expect("metadata");
    assert_eq!(metadata["actor"], "alice");
    assert_eq!(metadata["request_id"], "req-abc-123");
    assert_eq!(metadata["client_ip"], "127.0.0.1");
    assert_eq!(metadata["user_agent"], "test-agent/1.0");
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_request_without_id_gets_a_generated_one(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let answer = app
        .call(Method::POST, "/api/messages/send", None, None)
        .await;
    let id = answer.header("x-request-id").expect("request id");
    assert!(uuid::Uuid::parse_str(id).is_ok());
}

async fn reply(
    app: &TestApp,
    session: &crate::helpers::Session,
    parent: &str,
    body: Value,
) -> crate::helpers::Answer {
    app.call(
        Method::POST,
        &format!("/api/messages/{parent}/reply"),
        Some(session),
        Some(body),
    )
    .await
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_reply_goes_to_the_other_participant_with_a_re_subject(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    let bob = app.login("bob").await;
    let parent = app.sent_id(&alice, "bob").await;
    let answer = reply(&app, &bob, &parent, json!({"content": "Thanks!"})).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    assert_eq!(answer.body["parent_message_id"], parent.as_str());
    assert_eq!(answer.body["recipient"], "alice");
    let reply_id = answer.body["message_id"].as_str().expect("id").to_owned();
    let payload = opened_payload(&app.pool, &reply_id).await;
    assert_eq!(payload["MessageSent"]["subject"], "Re: Hello");
    // A reply to the reply does not become "Re: Re: ".
    let answer = reply(&app, &alice, &reply_id, json!({"content": "Good"})).await;
    let id = answer.body["message_id"].as_str().expect("id").to_owned();
    let payload = opened_payload(&app.pool, &id).await;
    assert_eq!(payload["MessageSent"]["subject"], "Re: Hello");
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn reply_rules_over_http(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    let bob = app.login("bob").await;
    let carol = app.login("dr_carol").await;
    let from_carol = app.sent_id(&carol, "alice").await;
    // A patient may answer her clinician.
    let answer = reply(
        &app,
        &alice,
        &from_carol,
        json!({"content": "Better, thanks"}),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    // A stranger may not.
    let answer = reply(&app, &bob, &from_carol, json!({"content": "me too"})).await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    // An unknown parent is 404; a malformed body is 400 first.
    let ghost = uuid::Uuid::new_v4();
    let answer = reply(
        &app,
        &alice,
        &ghost.to_string(),
        json!({"content": "hello?"}),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let answer = reply(&app, &alice, &ghost.to_string(), json!({"content": ""})).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.event_count().await, 2);
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_clinician_channel_reaches_assigned_patients_only(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let carol = app.login("dr_carol").await;
    let dave = app.login("dr_dave").await;
    let alice = app.login("alice").await;
    let body = json!({"recipient_username": "alice", "message": "How are you feeling?"});
    let answer = app
        .call(
            Method::POST,
            "/api/clinician/message",
            Some(&carol),
            Some(body.clone()),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    assert!(answer.body["message_id"].is_string() && answer.body["sent_at"].is_string());
    let answer = app
        .call(
            Method::POST,
            "/api/clinician/message",
            Some(&dave),
            Some(body.clone()),
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let to_bob = json!({"recipient_username": "bob", "message": "hi"});
    let answer = app
        .call(
            Method::POST,
            "/api/clinician/message",
            Some(&alice),
            Some(to_bob),
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "clinicians only");
    let channel: String =
        sqlx::query_scalar("SELECT payload -> 'MessageSent' ->> 'channel' FROM events")
            .fetch_one(&app.pool)
            .await
            .expect("channel");
    assert_eq!(channel, "clinician");
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_revoked_approval_stops_the_clinician(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let carol = app.login("dr_carol").await;
    assert_eq!(
        app.send(&carol, "alice", "hi").await.status,
        StatusCode::CREATED
    );
    accounts::set_approval(
        &app.pool,
        "dr_carol",
        "alice",
        accounts::ApprovalStatus::Revoked,
    )
    .await
    .expect("revoke");
    assert_eq!(
        app.send(&carol, "alice", "hi").await.status,
        StatusCode::FORBIDDEN
    );
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_commit_wakes_the_projector(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    app.sent_id(&alice, "bob").await;
    let woken = tokio::time::timeout(std::time::Duration::from_secs(1), app.wake.notified()).await;
    assert!(woken.is_ok(), "the in-process signal was not sent");
}
