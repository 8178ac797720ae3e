//! Faults and abuse: a commit whose database vanishes before the answer, a database that turns
//! read-only and back, login floods, account control, idle sessions, ambiguous cookies and the
//! policy's neutral refusals.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use command_service::{CommandState, CommitSignal};
use http_edge::{DatabaseUrl, Edge, EdgeSettings};
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::Notify;

use crate::helpers::{seed, TestApp};

/// The URL of the test's own database, to open pools with the service's own settings.
fn url_of(pool: &PgPool) -> DatabaseUrl {
    let options = pool.connect_options();
    DatabaseUrl(format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("postgres"),
    ))
}

/// A command service over `service_pool` (the one it may lose), seeded through `pool`.
async fn app_over(pool: PgPool, service_pool: PgPool, signal: CommitSignal) -> TestApp {
    seed(&pool).await;
    let edge = Edge::new(service_pool.clone(), EdgeSettings::default());
    let state = CommandState::new(service_pool, edge, signal);
    TestApp {
        pool,
        router: command_service::app(state),
        wake: Arc::new(Notify::new()),
        changes: None,
    }
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_send_whose_database_vanishes_right_after_the_commit_still_answers_201(pool: PgPool) {
    let service_pool = http_edge::connect_pool(&url_of(&pool), 4)
        .await
        .expect("pool");
    // The observer runs after the commit and before the answer: it takes the database away
    // from the service (every later statement on its pool fails), as a crash of PostgreSQL
    // right after the commit would.
    let doomed = service_pool.clone();
    let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trigger = armed.clone();
    let signal = CommitSignal::default().with_observer(Arc::new(move || {
        let doomed = doomed.clone();
        let armed = trigger.clone();
        Box::pin(async move {
            if armed.load(std::sync::atomic::Ordering::SeqCst) {
                doomed.close().await;
            }
        })
    }));
    let app = app_over(pool.clone(), service_pool, signal).await;
    let alice = app.login("alice").await;
    armed.store(true, std::sync::atomic::Ordering::SeqCst);

    let answer = app.send(&alice, "bob", "Stored, so say so").await;

    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    let id = answer.body["message_id"].as_str().expect("message id");
    let token = answer.header("x-consistency-token").expect("token");
    let (xid, position): (String, i64) = sqlx::query_as(
        "SELECT transaction_id::text, global_position FROM events WHERE aggregate_id = $1",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .expect("the message is in the log");
    let stored = events::LogPosition {
        transaction_id: xid.parse().expect("xid"),
        global_position: position,
    };
    assert_eq!(
        token,
        stored.to_string(),
        "the token is where the event landed"
    );
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn sends_recover_within_two_seconds_after_the_database_turns_read_only_and_back(
    pool: PgPool,
) {
    let service_pool = http_edge::connect_pool(&url_of(&pool), 4)
        .await
        .expect("pool");
    let app = app_over(pool.clone(), service_pool, CommitSignal::default()).await;
    let alice = app.login("alice").await;
    assert_eq!(
        app.send(&alice, "bob", "before").await.status,
        StatusCode::CREATED
    );
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .expect("name");
    // The operator's own connection stays writable whatever the database's default.
    let admin_options = (*pool.connect_options())
        .clone()
        .options([("default_transaction_read_only", "off")]);
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(admin_options)
        .await
        .expect("admin pool");
    let pool = admin;
    let set_read_only = |on: bool| {
        let pool = pool.clone();
        let database = database.clone();
        async move {
            let setting = if on { "on" } else { "off" };
            sqlx::query(&format!(
                "ALTER DATABASE \"{database}\" SET default_transaction_read_only = {setting}"
            ))
            .execute(&pool)
            .await
            .expect("alter database");
            // Connections opened from now on take the new default; end the old ones.
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .execute(&pool)
            .await
            .expect("terminate");
        }
    };

    set_read_only(true).await;
    for _ in 0..6 {
        let answer = app.send(&alice, "bob", "while read-only").await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            "{:?}",
            answer.body
        );
        assert_eq!(answer.header("retry-after"), Some("1"));
    }
    // Switch back without ending the read-only connections: the service must shed them itself.
    sqlx::query(&format!(
        "ALTER DATABASE \"{database}\" SET default_transaction_read_only = off"
    ))
    .execute(&pool)
    .await
    .expect("alter database");
    let switched_back = Instant::now();
    let mut answer = app.send(&alice, "bob", "after").await;
    while answer.status != StatusCode::CREATED && switched_back.elapsed() < Duration::from_secs(2) {
        answer = app.send(&alice, "bob", "after").await;
    }
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    for _ in 0..8 {
        assert_eq!(
            app.send(&alice, "bob", "steady").await.status,
            StatusCode::CREATED
        );
    }
    set_read_only(false).await;
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn failed_logins_are_throttled_per_account_before_the_password_is_checked(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let login = |password: &'static str| {
        app.call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"username": "alice", "password": password})),
        )
    };
    for _ in 0..5 {
        let answer = login("wrong-password").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            answer.body["error"]["message"],
            "wrong username or password"
        );
    }
    let answer = login("healing-demo").await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        "even the right password waits: the throttle answers before verifying"
    );
    assert_eq!(answer.header("retry-after"), Some("1"));
    // Another account from the same client is not held back.
    app.login("bob").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.login("alice").await;
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn disabling_an_account_ends_its_sessions_and_refuses_its_logins(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.login("admin").await;
    let bob = app.login("bob").await;
    let bob_elsewhere = app.login("bob").await;

    let answer = app
        .call(
            Method::POST,
            "/api/admin/users/bob/disable",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.body["username"], "bob");
    let disabled_at = answer.body["disabled_at"].clone();
    assert!(disabled_at.is_string());
    for session in [&bob, &bob_elsewhere] {
        let answer = app.send(session, "alice", "still here?").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let answer = app
        .call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"username": "bob", "password": "healing-demo"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.body["error"]["message"],
        "wrong username or password"
    );
    let again = app
        .call(
            Method::POST,
            "/api/admin/users/bob/disable",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (again.status, &again.body["disabled_at"]),
        (StatusCode::OK, &disabled_at)
    );

    let answer = app
        .call(
            Method::POST,
            "/api/admin/users/bob/enable",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, json!({"username": "bob"}));
    let bob = app.login("bob").await;
    assert_eq!(
        app.send(&bob, "alice", "back").await.status,
        StatusCode::CREATED
    );
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn account_control_is_for_admins_and_names_real_users(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.login("admin").await;
    let carol = app.login("dr_carol").await;
    let cases = [
        (
            "/api/admin/users/bob/disable",
            Some(&carol),
            StatusCode::FORBIDDEN,
        ),
        (
            "/api/admin/users/bob/enable",
            Some(&carol),
            StatusCode::FORBIDDEN,
        ),
        (
            "/api/admin/users/bob/disable",
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            "/api/admin/users/nobody/disable",
            Some(&admin),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/admin/users/nobody/enable",
            Some(&admin),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/admin/users/admin/disable",
            Some(&admin),
            StatusCode::CONFLICT,
        ),
    ];
    for (path, session, expected) in cases {
        let answer = app.call(Method::POST, path, session, None).await;
        assert_eq!(answer.status, expected, "{path}: {:?}", answer.body);
    }
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_session_idle_past_the_bound_is_unauthenticated(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let alice = app.login("alice").await;
    assert_eq!(
        app.send(&alice, "bob", "active").await.status,
        StatusCode::CREATED
    );
    sqlx::query("UPDATE sessions SET last_seen_at = now() - interval '31 minutes'")
        .execute(&pool)
        .await
        .expect("age the session");
    let answer = app.send(&alice, "bob", "after a long pause").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);

    // A request refreshes the idle clock (at most once a minute).
    let alice = app.login("alice").await;
    sqlx::query("UPDATE sessions SET last_seen_at = now() - interval '29 minutes'")
        .execute(&pool)
        .await
        .expect("age the session");
    assert_eq!(
        app.send(&alice, "bob", "in time").await.status,
        StatusCode::CREATED
    );
    let idle: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM now() - max(last_seen_at))::float8 FROM sessions
         WHERE revoked_at IS NULL",
    )
    .fetch_one(&pool)
    .await
    .expect("idle");
    assert!(idle < 60.0, "refreshed, idle {idle} s");
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn two_session_cookies_are_refused_as_ambiguous(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let alice = app.login("alice").await;
    let bob = app.login("bob").await;
    let request = Request::post("/api/auth/logout")
        .header(
            "cookie",
            format!("hs_session={}; hs_session={}", bob.cookie, alice.cookie),
        )
        .header("x-csrf-token", &alice.csrf)
        .body(Body::empty())
        .expect("request");
    let answer = app.raw(request).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn secure_cookies_use_the_host_prefix_and_only_it_counts(pool: PgPool) {
    let settings = EdgeSettings {
        cookie_secure: true,
        ..EdgeSettings::default()
    };
    let app = TestApp::with_settings(pool, settings).await;
    let answer = app
        .call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"username": "alice", "password": "healing-demo"})),
        )
        .await;
    let cookie = answer.header("set-cookie").expect("cookie").to_owned();
    assert!(cookie.starts_with("__Host-hs_session="), "{cookie}");
    assert!(
        cookie.contains("; Secure") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
    let token = cookie
        .split(';')
        .next()
        .and_then(|c| c.strip_prefix("__Host-hs_session="))
        .expect("token");
    let csrf = answer.body["csrf_token"].as_str().expect("csrf").to_owned();
    let logout = |name: &str| {
        Request::post("/api/auth/logout")
            .header("cookie", format!("{name}={token}"))
            .header("x-csrf-token", &csrf)
            .body(Body::empty())
            .expect("request")
    };
    assert_eq!(
        app.raw(logout("hs_session")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.raw(logout("__Host-hs_session")).await.status,
        StatusCode::NO_CONTENT
    );
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn policy_refusals_say_nothing_about_the_recipient(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let dave = app.login("dr_dave").await;
    let alice = app.login("alice").await;
    let cases = [
        (&dave, "alice"),    // a patient not assigned to him
        (&alice, "dr_dave"), // a clinician, without a message to reply to
        (&alice, "admin"),   // an administrator
        (&alice, "auditor"),
    ];
    let mut messages = Vec::new();
    for (from, to) in cases {
        let answer = app.send(from, to, "hello").await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{to}");
        messages.push(answer.body["error"]["message"].clone());
    }
    assert!(messages.iter().all(|m| m == &messages[0]), "{messages:?}");
    let text = messages[0].as_str().unwrap_or_default();
    for word in [
        "patient",
        "clinician",
        "admin",
        "auditor",
        "assigned",
        "alice",
        "dave",
    ] {
        assert!(!text.contains(word), "`{text}` names `{word}`");
    }
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_purger_deletes_sessions_ended_a_day_ago_and_keeps_the_rest(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    for user in ["alice", "bob", "dr_carol", "dr_dave"] {
        app.login(user).await;
    }
    for ended in [
        "UPDATE sessions SET expires_at = now() - interval '2 days' WHERE username = 'alice'",
        "UPDATE sessions SET revoked_at = now() - interval '25 hours' WHERE username = 'bob'",
        "UPDATE sessions SET last_seen_at = now() - interval '3 days' WHERE username = 'dr_carol'",
    ] {
        sqlx::query(ended)
            .execute(&pool)
            .await
            .expect("age sessions");
    }
    let store = http_edge::sessions::SessionStore::new(
        pool.clone(),
        Duration::from_secs(3600),
        Duration::from_secs(1800),
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let purger = store.spawn_purger(Duration::from_secs(3600), stop.clone());
    let started = Instant::now();
    let mut left: Vec<String> = Vec::new();
    while started.elapsed() < Duration::from_secs(5) {
        left = sqlx::query_scalar("SELECT username FROM sessions ORDER BY username")
            .fetch_all(&pool)
            .await
            .expect("sessions");
        if left.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    purger.await.expect("purger ends when asked");
    assert_eq!(left, vec!["dr_dave".to_owned()]);
}
