//! Login, logout, CSRF and session lifetime.

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{Session, TestApp};

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn login_sets_an_http_only_session_cookie_and_returns_the_csrf_token(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let answer = app
        .call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"username": "dr_carol", "password": "healing-demo"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["username"], "dr_carol");
    assert_eq!(answer.body["role"], "clinician");
    assert_eq!(answer.body["display_name"], "dr_carol");
    assert!(answer.body["csrf_token"]
        .as_str()
        .is_some_and(|t| t.len() >= 22));
    let cookie = answer.header("set-cookie").expect("cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_wrong_username_and_a_wrong_password_get_the_same_answer(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let mut bodies = Vec::new();
    for (username, password) in [("alice", "not-her-password"), ("nobody", "healing-demo")] {
        let answer = app
            .call(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.code(), "unauthenticated");
        assert!(answer.header("set-cookie").is_none());
        bodies.push(answer.body);
    }
    assert_eq!(bodies[0], bodies[1]);
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn session_tokens_are_stored_hashed(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let session = app.login("alice").await;
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM sessions")
        .fetch_all(&app.pool)
        .await
        .expect("sessions");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].len(), 32);
    assert_ne!(stored[0], session.cookie.as_bytes());
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn logout_revokes_the_session_server_side(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    let answer = app
        .call(Method::POST, "/api/auth/logout", Some(&alice), None)
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(answer
        .header("set-cookie")
        .is_some_and(|c| c.contains("Max-Age=0")));
    let after = app.send(&alice, "bob", "still there?").await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.code(), "unauthenticated");
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn an_expired_session_is_unauthenticated(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    sqlx::query("UPDATE sessions SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .expect("expire");
    let answer = app.send(&alice, "bob", "hello").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn csrf_missing_wrong_or_from_another_session_is_refused(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    let bob = app.login("bob").await;
    let cases = [
        ("missing", String::new()),
        ("wrong", "not-the-token".to_owned()),
        ("another session's", bob.csrf.clone()),
    ];
    for (name, csrf) in cases {
        let forged = Session {
            cookie: alice.cookie.clone(),
            csrf,
        };
        let answer = app.send(&forged, "bob", "hello").await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{name}");
        assert_eq!(answer.code(), "csrf_failed", "{name}");
    }
    assert_eq!(app.event_count().await, 0);
}
