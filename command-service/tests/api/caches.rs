//! With the caches of sessions and the directory on (as the binaries run): a change made through
//! the API is obeyed by the very next request, and the answers stay those of the database.

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::TestApp;

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_logout_or_a_disable_ends_a_cached_session_at_once(pool: PgPool) {
    let app = TestApp::with_caches(pool).await;
    let alice = app.login("alice").await;
    for _ in 0..2 {
        assert_eq!(
            app.send(&alice, "bob", "hi").await.status,
            StatusCode::CREATED
        );
    }
    let logout = app
        .call(Method::POST, "/api/auth/logout", Some(&alice), None)
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.send(&alice, "bob", "still there?").await.status,
        StatusCode::UNAUTHORIZED
    );

    let bob = app.login("bob").await;
    let admin = app.login("admin").await;
    for _ in 0..2 {
        assert_eq!(
            app.send(&bob, "alice", "hi").await.status,
            StatusCode::CREATED
        );
    }
    let disable = app
        .call(
            Method::POST,
            "/api/admin/users/bob/disable",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(disable.status, StatusCode::OK, "{:?}", disable.body);
    assert_eq!(
        app.send(&bob, "alice", "hello?").await.status,
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_revoked_approval_stops_the_next_clinician_message_at_once(pool: PgPool) {
    let app = TestApp::with_caches(pool).await;
    let admin = app.login("admin").await;
    let carol = app.login("dr_carol").await;
    let to_alice = json!({"recipient_username": "alice", "message": "How was the week?"});
    for _ in 0..2 {
        let answer = app
            .call(
                Method::POST,
                "/api/clinician/message",
                Some(&carol),
                Some(to_alice.clone()),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    }
    let revoke = json!({"clinician": "dr_carol", "patient": "alice", "status": "revoked"});
    let answer = app
        .call(
            Method::PUT,
            "/api/admin/patient-approvals",
            Some(&admin),
            Some(revoke),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let answer = app
        .call(
            Method::POST,
            "/api/clinician/message",
            Some(&carol),
            Some(to_alice),
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{:?}", answer.body);
    app.stop().await;
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_user_remembered_as_unknown_exists_once_created(pool: PgPool) {
    let app = TestApp::with_caches(pool).await;
    let admin = app.login("admin").await;
    let alice = app.login("alice").await;
    for _ in 0..2 {
        let answer = app.send(&alice, "newbie", "welcome").await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{:?}", answer.body);
    }
    let create = json!({"username": "newbie", "role": "patient", "password": "a-long-password"});
    let answer = app
        .call(Method::POST, "/api/admin/users", Some(&admin), Some(create))
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    assert_eq!(
        app.send(&alice, "newbie", "welcome").await.status,
        StatusCode::CREATED
    );
    let read = app
        .call(
            Method::POST,
            "/api/messages/conversation/newbie/read",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
    app.stop().await;
}
