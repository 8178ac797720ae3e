//! Read receipts, deletion and restoration.

use axum::http::{Method, StatusCode};
use sqlx::PgPool;

use crate::helpers::TestApp;

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn marking_read_twice_keeps_the_first_read_at_and_records_nothing_new(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    let bob = app.login("bob").await;
    let id = app.sent_id(&alice, "bob").await;
    let path = format!("/api/messages/{id}/read");
    let first = app.call(Method::PATCH, &path, Some(&bob), None).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(first.body["is_read"], true);
    assert_eq!(first.body["message_id"], id.as_str());
    let again = app.call(Method::PATCH, &path, Some(&bob), None).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["read_at"], first.body["read_at"]);
    assert_eq!(
        app.event_types(&id).await,
        vec!["MessageSent", "MessageRead"]
    );
    // Only the recipient may mark it.
    let by_sender = app.call(Method::PATCH, &path, Some(&alice), None).await;
    assert_eq!(by_sender.status, StatusCode::FORBIDDEN);
    let carol = app.login("dr_carol").await;
    let by_stranger = app.call(Method::PATCH, &path, Some(&carol), None).await;
    assert_eq!(by_stranger.status, StatusCode::FORBIDDEN);
    let unknown = format!("/api/messages/{}/read", uuid::Uuid::new_v4());
    let answer = app.call(Method::PATCH, &unknown, Some(&bob), None).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn marking_a_conversation_read_marks_every_unread_message_from_that_user(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    let bob = app.login("bob").await;
    let carol = app.login("dr_carol").await;
    let first = app.sent_id(&bob, "alice").await;
    app.sent_id(&bob, "alice").await;
    app.sent_id(&bob, "alice").await;
    app.sent_id(&alice, "bob").await; // the other direction stays unread
    app.sent_id(&carol, "alice").await; // another counterpart stays unread
    let read_one = format!("/api/messages/{first}/read");
    assert_eq!(
        app.call(Method::PATCH, &read_one, Some(&alice), None)
            .await
            .status,
        StatusCode::OK
    );

    let path = "/api/messages/conversation/bob/read";
    let answer = app.call(Method::POST, path, Some(&alice), None).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.body["marked"], 2);
    assert!(answer.header("x-consistency-token").is_some());
    let again = app.call(Method::POST, path, Some(&alice), None).await;
    assert_eq!(again.body["marked"], 0);
    let reads: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'MessageRead'")
            .fetch_one(&app.pool)
            .await
            .expect("count");
    assert_eq!(reads, 3);
    let unknown = app
        .call(
            Method::POST,
            "/api/messages/conversation/ghost/read",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn deleting_is_per_side_idempotent_and_hides_when_both_sides_deleted(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    let bob = app.login("bob").await;
    let carol = app.login("dr_carol").await;
    let id = app.sent_id(&alice, "bob").await;
    let path = format!("/api/messages/{id}");
    let by_stranger = app.call(Method::DELETE, &path, Some(&carol), None).await;
    assert_eq!(by_stranger.status, StatusCode::FORBIDDEN);
    for _ in 0..2 {
        let answer = app.call(Method::DELETE, &path, Some(&alice), None).await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT);
        assert!(answer.header("x-consistency-token").is_some());
    }
    assert_eq!(
        app.event_types(&id).await,
        vec!["MessageSent", "MessageDeletedBySender"]
    );
    let answer = app.call(Method::DELETE, &path, Some(&bob), None).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.event_types(&id).await,
        vec![
            "MessageSent",
            "MessageDeletedBySender",
            "MessageDeletedByRecipient",
            "MessageHidden"
        ]
    );
    let unknown = format!("/api/messages/{}", uuid::Uuid::new_v4());
    assert_eq!(
        app.call(Method::DELETE, &unknown, Some(&bob), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn an_admin_restores_a_hidden_message(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    let bob = app.login("bob").await;
    let admin = app.login("admin").await;
    let id = app.sent_id(&alice, "bob").await;
    let path = format!("/api/messages/{id}");
    app.call(Method::DELETE, &path, Some(&alice), None).await;
    app.call(Method::DELETE, &path, Some(&bob), None).await;
    let restore = format!("/api/admin/messages/{id}/restore");
    let auditor = app.login("auditor").await;
    assert_eq!(
        app.call(Method::POST, &restore, Some(&auditor), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let answer = app.call(Method::POST, &restore, Some(&admin), None).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.body["message_id"], id.as_str());
    assert!(answer.body["restored_at"].is_string());
    let again = app.call(Method::POST, &restore, Some(&admin), None).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(
        app.event_types(&id).await.last().map(String::as_str),
        Some("MessageRestored")
    );
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_conversation_read_appends_its_receipts_in_one_transaction_under_its_request(
    pool: PgPool,
) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    let bob = app.login("bob").await;
    for _ in 0..4 {
        app.sent_id(&bob, "alice").await;
    }
    let path = "/api/messages/conversation/bob/read";
    let answer = app.call(Method::POST, path, Some(&alice), None).await;
    assert_eq!(answer.body["marked"], 4, "{:?}", answer.body);
    let request_id = answer
        .header("x-request-id")
        .expect("request id")
        .to_owned();
    let reads: Vec<(String, i64, String, String)> = sqlx::query_as(
        "SELECT transaction_id::text, global_position, metadata ->> 'request_id',
                metadata ->> 'correlation_id'
         FROM events WHERE event_type = 'MessageRead' ORDER BY global_position",
    )
    .fetch_all(&app.pool)
    .await
    .expect("reads");
    assert_eq!(reads.len(), 4);
    assert!(
        reads.iter().all(|r| r.0 == reads[0].0),
        "one transaction: {reads:?}"
    );
    assert!(
        reads.iter().all(|r| r.2 == request_id && r.3 == request_id),
        "{reads:?}"
    );
    let last = reads.last().expect("a read");
    let token = events::LogPosition {
        transaction_id: last.0.parse().expect("xid"),
        global_position: last.1,
    };
    assert_eq!(
        answer.header("x-consistency-token"),
        Some(token.to_string().as_str()),
        "the token is the batch's last event"
    );
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn racing_conversation_reads_mark_each_message_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    let bob = app.login("bob").await;
    let mut sent = Vec::new();
    for _ in 0..6 {
        sent.push(app.sent_id(&bob, "alice").await);
    }
    let path = "/api/messages/conversation/bob/read";
    let answers =
        futures::future::join_all((0..8).map(|_| app.call(Method::POST, path, Some(&alice), None)))
            .await;
    let mut marked = 0;
    for answer in &answers {
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        marked += answer.body["marked"].as_u64().expect("marked");
    }
    assert_eq!(marked, 6, "each message marked by exactly one call");
    for id in &sent {
        assert_eq!(
            app.event_types(id).await,
            vec!["MessageSent", "MessageRead"]
        );
    }
}
