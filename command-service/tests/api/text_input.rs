//! Text over HTTP: NUL and other control characters answer 400 `invalid_input` (never a 500
//! from PostgreSQL) wherever text enters the command side, "not blank" means a visible
//! character, and logins with such characters are plain 401s.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{opened_payload, Answer, TestApp, PASSWORD};

/// The NUL byte, as JSON's `\u0000` carries it.
const NUL: &str = "\u{0}";

fn assert_invalid(answer: &Answer, case: &str) {
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::BAD_REQUEST, "invalid_input"),
        "{case}: {:?}",
        answer.body
    );
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn control_characters_and_invisible_texts_in_messages_are_invalid_input(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    let carol = app.login("dr_carol").await;
    let parent = app.sent_id(&carol, "alice").await;
    let events_before = app.event_count().await;
    let reply = format!("/api/messages/{parent}/reply");
    // (case, who, path, body)
    let table: Vec<(&str, _, &str, Value)> = vec![
        (
            "send: NUL in content",
            &alice,
            "/api/messages/send",
            json!({"recipient": "bob", "content": format!("hi{NUL}")}),
        ),
        (
            "send: NUL in subject",
            &alice,
            "/api/messages/send",
            json!({"recipient": "bob", "subject": format!("a{NUL}b"), "content": "hi"}),
        ),
        (
            "send: NUL in recipient",
            &alice,
            "/api/messages/send",
            json!({"recipient": format!("bob{NUL}"), "content": "hi"}),
        ),
        (
            "send: escape in content",
            &alice,
            "/api/messages/send",
            json!({"recipient": "bob", "content": "\u{1B}[2Jhi"}),
        ),
        (
            "send: C1 control in content",
            &alice,
            "/api/messages/send",
            json!({"recipient": "bob", "content": "hi\u{85}"}),
        ),
        (
            "send: right-to-left override in content",
            &alice,
            "/api/messages/send",
            json!({"recipient": "bob", "content": "see \u{202E}fdp.exe"}),
        ),
        (
            "send: zero-width space as content",
            &alice,
            "/api/messages/send",
            json!({"recipient": "bob", "content": "\u{200B}"}),
        ),
        (
            "send: invisible characters as content",
            &alice,
            "/api/messages/send",
            json!({"recipient": "bob", "content": " \u{200C}\u{200D}\u{2060}\u{FEFF}\u{301} "}),
        ),
        (
            "send: line break in subject",
            &alice,
            "/api/messages/send",
            json!({"recipient": "bob", "subject": "one\ntwo", "content": "hi"}),
        ),
        (
            "clinician: NUL in message",
            &carol,
            "/api/clinician/message",
            json!({"recipient_username": "alice", "message": NUL}),
        ),
        (
            "clinician: NUL in subject",
            &carol,
            "/api/clinician/message",
            json!({"recipient_username": "alice", "subject": NUL, "message": "hi"}),
        ),
        (
            "clinician: zero-width space as message",
            &carol,
            "/api/clinician/message",
            json!({"recipient_username": "alice", "message": "\u{200B}\u{200B}"}),
        ),
        (
            "reply: NUL in content",
            &alice,
            &reply,
            json!({"content": format!("thanks{NUL}")}),
        ),
        (
            "reply: NUL in subject",
            &alice,
            &reply,
            json!({"subject": format!("Re{NUL}"), "content": "thanks"}),
        ),
        (
            "reply: bell in subject",
            &alice,
            &reply,
            json!({"subject": "Re\u{7}", "content": "thanks"}),
        ),
        (
            "reply: zero-width space as content",
            &alice,
            &reply,
            json!({"content": "\u{200B}"}),
        ),
    ];
    for (case, who, path, body) in table {
        let answer = app.call(Method::POST, path, Some(who), Some(body)).await;
        assert_invalid(&answer, case);
    }
    assert_eq!(
        app.event_count().await,
        events_before,
        "nothing was recorded"
    );
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_lone_surrogate_in_the_json_is_invalid_input(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/messages/send")
        .header("cookie", format!("hs_session={}", alice.cookie))
        .header("x-csrf-token", &alice.csrf)
        .header("content-type", "application/json")
        .body(Body::from(
            r#"{"recipient": "bob", "content": "hi \ud800"}"#,
        ))
        .expect("request");
    assert_invalid(&app.raw(request).await, "lone surrogate");
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn texts_with_line_breaks_tabs_and_visible_characters_are_sent_as_written(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    let content = "Dear Bob,\r\n\tsee you at 10 \u{1F44B}\n\u{200B}e\u{301}";
    let answer = app
        .call(
            Method::POST,
            "/api/messages/send",
            Some(&alice),
            Some(json!({"recipient": "bob", "subject": " \u{200B} ", "content": content})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    let id = answer.body["message_id"].as_str().expect("id");
    let payload = opened_payload(&app.pool, id).await;
    let sent = &payload["MessageSent"];
    assert_eq!(sent["content"], content);
    assert_eq!(sent["subject"], Value::Null, "an invisible subject is none");
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn control_characters_in_a_new_user_are_invalid_input_and_a_blank_display_name_is_the_username(
    pool: PgPool,
) {
    let app = TestApp::new(pool).await;
    let admin = app.login("admin").await;
    let user = |username: String, password: String, display_name: &str| {
        json!({"username": username, "role": "patient", "password": password,
               "display_name": display_name})
    };
    let password = "a-long-password".to_owned();
    let table = [
        (
            "NUL in display name",
            user("erin".into(), password.clone(), "Erin\u{0}"),
        ),
        (
            "tab in display name",
            user("erin".into(), password.clone(), "Erin\tE."),
        ),
        (
            "override in display name",
            user("erin".into(), password.clone(), "\u{202E}niré"),
        ),
        (
            "NUL in password",
            user("erin".into(), format!("{password}{NUL}"), "Erin"),
        ),
        (
            "escape in password",
            user("erin".into(), format!("{password}\u{1B}"), "Erin"),
        ),
        (
            "NUL in username",
            user(format!("erin{NUL}"), password.clone(), "Erin"),
        ),
    ];
    for (case, body) in table {
        let answer = app
            .call(Method::POST, "/api/admin/users", Some(&admin), Some(body))
            .await;
        assert_invalid(&answer, case);
    }
    let answer = app
        .call(
            Method::POST,
            "/api/admin/users",
            Some(&admin),
            Some(user(
                "erin".into(),
                "pass word \u{200B}é!".into(),
                "\u{200B}\u{3164}",
            )),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    assert_eq!(answer.body["display_name"], "erin");
    app.login_with("erin", "pass word \u{200B}é!").await;
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn logins_and_approvals_with_a_nul_are_refused_without_a_server_error(pool: PgPool) {
    let app = TestApp::new(pool).await;
    for (username, password) in [
        (format!("alice{NUL}"), PASSWORD.to_owned()),
        ("alice".to_owned(), format!("{PASSWORD}{NUL}")),
        (NUL.to_owned(), NUL.to_owned()),
        ("alice\u{1B}".to_owned(), PASSWORD.to_owned()),
    ] {
        let answer = app
            .call(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert!(
            [StatusCode::UNAUTHORIZED, StatusCode::BAD_REQUEST].contains(&answer.status),
            "login {username:?}/{password:?}: {} {:?}",
            answer.status,
            answer.body
        );
    }
    let admin = app.login("admin").await;
    for (clinician, patient) in [
        (format!("dr_carol{NUL}"), "bob".to_owned()),
        ("dr_carol".to_owned(), format!("bob{NUL}")),
    ] {
        let answer = app
            .call(
                Method::PUT,
                "/api/admin/patient-approvals",
                Some(&admin),
                Some(json!({"clinician": clinician, "patient": patient, "status": "approved"})),
            )
            .await;
        assert!(
            answer.status.is_client_error(),
            "approval {clinician:?}/{patient:?}: {} {:?}",
            answer.status,
            answer.body
        );
    }
}
