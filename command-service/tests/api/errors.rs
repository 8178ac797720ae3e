//! The error envelope and the order of checks of `API.md`.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_edge::{EdgeSettings, RateSettings};
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{Session, TestApp};

fn malformed() -> Option<serde_json::Value> {
    Some(json!({"recipient": 42}))
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn checks_run_in_the_order_of_the_api(pool: PgPool) {
    let settings = EdgeSettings {
        rate: RateSettings {
            user_per_second: 0.001,
            user_burst: 1,
            ..RateSettings::default()
        },
        ..EdgeSettings::default()
    };
    let app = TestApp::with_settings(pool, settings).await;
    let path = "/api/messages/send";

    // 1: unauthenticated beats malformed.
    let answer = app.call(Method::POST, path, None, malformed()).await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );

    // 2: CSRF beats malformed.
    let alice = app.login("alice").await;
    let no_csrf = Session {
        cookie: alice.cookie.clone(),
        csrf: "x".into(),
    };
    let answer = app
        .call(Method::POST, path, Some(&no_csrf), malformed())
        .await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::FORBIDDEN, "csrf_failed")
    );

    // 4: malformed, and it does not use up the rate limit... it does: the limit comes first.
    let answer = app
        .call(Method::POST, path, Some(&alice), malformed())
        .await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::BAD_REQUEST, "invalid_input")
    );

    // 3: the bucket (burst 1) is now empty: rate limit beats malformed.
    let answer = app
        .call(Method::POST, path, Some(&alice), malformed())
        .await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert!(answer
        .header("retry-after")
        .is_some_and(|s| s.parse::<u64>().is_ok()));
    assert_eq!(app.event_count().await, 0);
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn not_found_comes_before_forbidden_and_forbidden_before_conflict(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    let bob = app.login("bob").await;
    // A patient may not start a conversation with a clinician (403), but an unknown user is 404.
    let answer = app.send(&alice, "ghost", "hello").await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let answer = app.send(&alice, "dr_dave", "hello").await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    // Restore by a patient of an undeleted message: 403 before 409.
    let id = app.sent_id(&alice, "bob").await;
    let restore = format!("/api/admin/messages/{id}/restore");
    let answer = app.call(Method::POST, &restore, Some(&bob), None).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let admin = app.login("admin").await;
    let answer = app.call(Method::POST, &restore, Some(&admin), None).await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::CONFLICT, "conflict")
    );
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn bad_bodies_are_invalid_input_in_the_envelope(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    let cases = [
        ("not json", "{\"recipient\": ", "application/json"),
        (
            "wrong type",
            "{\"recipient\": \"bob\", \"content\": 5}",
            "application/json",
        ),
        (
            "missing content",
            "{\"recipient\": \"bob\"}",
            "application/json",
        ),
        (
            "wrong content type",
            "{\"recipient\":\"bob\",\"content\":\"hi\"}",
            "text/plain",
        ),
        (
            "empty content",
            "{\"recipient\":\"bob\",\"content\":\"\"}",
            "application/json",
        ),
        (
            "blank content",
            "{\"recipient\":\"bob\",\"content\":\"   \"}",
            "application/json",
        ),
        (
            "self",
            "{\"recipient\":\"alice\",\"content\":\"me\"}",
            "application/json",
        ),
        (
            "bad username",
            "{\"recipient\":\"Bob!\",\"content\":\"hi\"}",
            "application/json",
        ),
    ];
    for (name, body, content_type) in cases {
        let request = Request::post("/api/messages/send")
            .header("cookie", format!("hs_session={}", alice.cookie))
            .header("x-csrf-token", &alice.csrf)
            .header("content-type", content_type)
            .body(Body::from(body))
            .expect("request");
        let answer = app.raw(request).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{name}: {:?}",
            answer.body
        );
        assert_eq!(answer.code(), "invalid_input", "{name}");
        assert!(answer.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let long_subject = json!({"recipient": "bob", "subject": "s".repeat(256), "content": "hi"});
    let answer = app
        .call(
            Method::POST,
            "/api/messages/send",
            Some(&alice),
            Some(long_subject),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let long_content = json!({"recipient": "bob", "content": "c".repeat(10_001)});
    let answer = app
        .call(
            Method::POST,
            "/api/messages/send",
            Some(&alice),
            Some(long_content),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.event_count().await,
        0,
        "no rejected command appends an event"
    );
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn an_oversize_body_is_413(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    let huge = json!({"recipient": "bob", "content": "x".repeat(70 * 1024)});
    let answer = app
        .call(Method::POST, "/api/messages/send", Some(&alice), Some(huge))
        .await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    assert_eq!(app.event_count().await, 0);
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn unknown_routes_and_wrong_methods_answer_in_the_envelope(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let answer = app
        .call(Method::POST, "/api/nothing/here", None, None)
        .await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let answer = app
        .call(Method::GET, "/api/messages/send", None, None)
        .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.code(), "method_not_allowed");
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_bad_message_id_in_the_path_is_invalid_input(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    for (method, path) in [
        (Method::PATCH, "/api/messages/not-a-uuid/read"),
        (Method::DELETE, "/api/messages/42"),
    ] {
        let answer = app.call(method, path, Some(&alice), None).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}");
    }
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_per_ip_limit_covers_login_too(pool: PgPool) {
    let settings = EdgeSettings {
        rate: RateSettings {
            ip_per_second: 0.001,
            ip_burst: 2,
            ..RateSettings::default()
        },
        ..EdgeSettings::default()
    };
    let app = TestApp::with_settings(pool, settings).await;
    let _ = app.login("alice").await;
    let _ = app.login("bob").await;
    let answer = app
        .call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"username": "bob", "password": "healing-demo"})),
        )
        .await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_per_user_limit_answers_429_with_retry_after(pool: PgPool) {
    let settings = EdgeSettings {
        rate: RateSettings {
            user_per_second: 0.5,
            user_burst: 3,
            ..RateSettings::default()
        },
        ..EdgeSettings::default()
    };
    let app = TestApp::with_settings(pool, settings).await;
    let alice = app.login("alice").await;
    let bob = app.login("bob").await;
    for _ in 0..3 {
        assert_eq!(
            app.send(&alice, "bob", "hi").await.status,
            StatusCode::CREATED
        );
    }
    let answer = app.send(&alice, "bob", "hi").await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer.header("retry-after"), Some("2"));
    // Another user has a bucket of their own.
    assert_eq!(
        app.send(&bob, "alice", "hi").await.status,
        StatusCode::CREATED
    );
    assert_eq!(app.event_count().await, 4);
}
