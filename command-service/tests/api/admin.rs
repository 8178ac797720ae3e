//! User and approval administration.

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::TestApp;

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn an_admin_creates_users_and_a_taken_name_is_a_conflict(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.login("admin").await;
    let body = json!({"username": "erin", "role": "patient", "password": "a-long-password", "display_name": "Erin E."});
    let answer = app
        .call(
            Method::POST,
            "/api/admin/users",
            Some(&admin),
            Some(body.clone()),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    assert_eq!(answer.body["display_name"], "Erin E.");
    let again = app
        .call(Method::POST, "/api/admin/users", Some(&admin), Some(body))
        .await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "conflict")
    );
    let erin = app.login_with("erin", "a-long-password").await;
    assert_eq!(
        app.send(&erin, "bob", "hi bob").await.status,
        StatusCode::CREATED
    );
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn only_admins_administer(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let carol = app.login("dr_carol").await;
    let body = json!({"username": "mallory", "role": "admin", "password": "a-long-password"});
    let answer = app
        .call(Method::POST, "/api/admin/users", Some(&carol), Some(body))
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let approval = json!({"clinician": "dr_carol", "patient": "bob", "status": "approved"});
    let answer = app
        .call(
            Method::PUT,
            "/api/admin/patient-approvals",
            Some(&carol),
            Some(approval),
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.send(&carol, "bob", "hi").await.status,
        StatusCode::FORBIDDEN
    );
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn approvals_open_and_close_the_clinician_channel(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.login("admin").await;
    let dave = app.login("dr_dave").await;
    let path = "/api/admin/patient-approvals";
    let approve = json!({"clinician": "dr_dave", "patient": "bob", "status": "approved"});
    let answer = app
        .call(Method::PUT, path, Some(&admin), Some(approve))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(
        app.send(&dave, "bob", "hello bob").await.status,
        StatusCode::CREATED
    );
    let revoke = json!({"clinician": "dr_dave", "patient": "bob", "status": "revoked"});
    app.call(Method::PUT, path, Some(&admin), Some(revoke))
        .await;
    assert_eq!(
        app.send(&dave, "bob", "hello again").await.status,
        StatusCode::FORBIDDEN
    );
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn bad_admin_input_is_rejected(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.login("admin").await;
    let cases = [
        (
            "/api/admin/users",
            Method::POST,
            json!({"username": "x", "role": "wizard", "password": "a-long-password"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/admin/users",
            Method::POST,
            json!({"username": "Bad Name", "role": "patient", "password": "a-long-password"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/admin/users",
            Method::POST,
            json!({"username": "ok", "role": "patient", "password": "short"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/admin/patient-approvals",
            Method::PUT,
            json!({"clinician": "dr_dave", "patient": "bob", "status": "maybe"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/admin/patient-approvals",
            Method::PUT,
            json!({"clinician": "ghost", "patient": "bob", "status": "approved"}),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/admin/patient-approvals",
            Method::PUT,
            json!({"clinician": "alice", "patient": "bob", "status": "approved"}),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (path, method, body, expected) in cases {
        let answer = app
            .call(method, path, Some(&admin), Some(body.clone()))
            .await;
        assert_eq!(answer.status, expected, "{body}: {:?}", answer.body);
    }
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(users, 6);
}
