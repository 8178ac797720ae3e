//! The gateway as users and operators meet it: the real router, then the real binaries, each
//! against a fresh migrated database.

use std::process::Stdio;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tower::ServiceExt;

mod support;

use support::*;

async fn get(router: &axum::Router, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = router
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn health_and_readiness_answer_when_the_database_is_migrated(pool: PgPool) {
    let router = router(pool);
    let (status, _, body) = get(&router, "/healthz").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    let (status, _, body) = get(&router, "/readyz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        r#"{"database":true,"migrations":true,"projections":true}"#
    );
}

#[sqlx::test]
async fn readiness_fails_before_migrations(pool: PgPool) {
    let readiness = gateway::readiness(&pool, gateway::LagBound::default()).await;
    assert!(readiness.database);
    assert!(!readiness.migrations);
    let (status, _, _) = get(&router(pool), "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_spa_is_served_with_security_headers(pool: PgPool) {
    let router = router(pool);
    let (status, headers, body) = get(&router, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("<html"), "{body}");
    let csp = headers["content-security-policy"].to_str().expect("csp");
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-store");
    let (status, headers, _) = get(&router, "/js/main.js").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .is_ok_and(|t| t.contains("javascript")));
    let (status, _, _) = get(&router, "/e2e/package.json").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the browser tests are not served"
    );
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn unknown_api_paths_are_json_404s(pool: PgPool) {
    let (status, headers, body) = get(&router(pool), "/api/no/such/thing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(headers["content-type"]
        .to_str()
        .is_ok_and(|t| t.contains("json")));
    assert!(body.contains(r#""code":"not_found""#), "{body}");
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_openapi_document_describes_both_apis(pool: PgPool) {
    let (status, _, body) = get(&router(pool), "/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert!(doc["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.1")));
    for path in [
        "/api/messages/send",
        "/api/messages/{id}/reply",
        "/api/clinician/message",
        "/api/messages/{id}/read",
        "/api/messages/conversation/{user}/read",
        "/api/messages/{id}",
        "/api/admin/messages/{id}/restore",
        "/api/admin/users",
        "/api/admin/patient-approvals",
        "/api/auth/login",
        "/api/auth/logout",
        "/api/auth/me",
        "/api/csrf-token",
        "/api/messages/inbox",
        "/api/messages/sent",
        "/api/messages/conversation/{user}",
        "/api/messages/search",
        "/api/messages/unread-count",
        "/api/clinician/patients",
        "/api/admin/messages/deleted",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
}

async fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.ok()?;
    Some(answer)
}

#[sqlx::test]
async fn hs_admin_migrates_seeds_idempotently_and_manages_users(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let url = database_url(&options);
    let succeeds = |args: &[&str]| {
        let out = hs_admin(&url, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let fails = |args: &[&str]| assert!(!hs_admin(&url, args).status.success(), "{args:?}");
    let create_erin = [
        "create-user",
        "--username",
        "erin",
        "--role",
        "patient",
        "--password-env",
        "NEW_PASSWORD",
    ];
    succeeds(&["migrate"]);
    succeeds(&["seed-demo"]);
    succeeds(&["seed-demo"]);
    succeeds(&create_erin);
    fails(&create_erin);
    succeeds(&[
        "set-approval",
        "--clinician",
        "dr_dave",
        "--patient",
        "erin",
        "--status",
        "approved",
    ]);
    fails(&[
        "set-approval",
        "--clinician",
        "erin",
        "--patient",
        "bob",
        "--status",
        "approved",
    ]);

    let pool = PgPool::connect(&url).await.expect("connect");
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(users, 7);
    let approvals: i64 =
        sqlx::query_scalar("SELECT count(*) FROM patient_approvals WHERE status = 'approved'")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(approvals, 2);
    let help = hs_admin(&url, &["--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("seed-demo"));
}

#[sqlx::test]
async fn the_gateway_binary_migrates_serves_and_stops_gracefully_on_sigterm(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let url = database_url(&options);
    let mut gateway = spawn_gateway(&url, &[]).await;
    let ready = http_get(gateway.port, "/readyz")
        .await
        .expect("the gateway answered");
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    let pid = gateway.child.id().expect("running").to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let exited = tokio::time::timeout(Duration::from_secs(10), gateway.child.wait()).await;
    assert!(
        matches!(exited, Ok(Ok(status)) if status.success()),
        "clean exit on SIGTERM: {exited:?}\n{}",
        gateway.output()
    );
}

async fn send_one(router: &axum::Router, pool: &PgPool) {
    command_service_seed(pool).await;
    let login = router
        .clone()
        .oneshot(
            Request::post("/api/auth/login")
                .header("content-type", "application/json")
                .body(Body::from(
                    r#"{"username":"alice","password":"healing-demo"}"#,
                ))
                .expect("request"),
        )
        .await
        .expect("infallible");
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let body = login.into_body().collect().await.expect("body").to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let csrf = json["csrf_token"].as_str().expect("csrf").to_owned();
    let sent = router
        .clone()
        .oneshot(
            Request::post("/api/messages/send")
                .header("content-type", "application/json")
                .header("cookie", cookie)
                .header("x-csrf-token", csrf)
                .body(Body::from(r#"{"recipient":"bob","content":"hello"}"#))
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(sent.status(), StatusCode::CREATED);
}

async fn command_service_seed(pool: &PgPool) {
    for (name, role) in [
        ("alice", events::Role::Patient),
        ("bob", events::Role::Patient),
    ] {
        accounts::create_user(
            pool,
            accounts::NewUser {
                username: name.into(),
                role,
                password: "healing-demo".into(),
                display_name: None,
            },
        )
        .await
        .expect("user");
    }
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn metrics_count_requests_by_route_and_commands_by_outcome(pool: PgPool) {
    let router = router(pool.clone());
    send_one(&router, &pool).await;
    let (_, _, public) = get(&router, "/metrics").await;
    assert!(
        !public.contains("http_requests_total"),
        "not on the public port"
    );
    let (status, headers, body) = get(&gateway::metrics_router(pool.clone()), "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .is_ok_and(|t| t.starts_with("text/plain")));
    assert!(
        body.contains(
            r#"http_requests_total{route="/api/messages/send",method="POST",status="201"}"#
        ),
        "{body}"
    );
    assert!(
        body.contains(r#"commands_total{command="send",outcome="accepted"}"#),
        "{body}"
    );
    assert!(
        body.contains("http_request_duration_seconds_bucket"),
        "{body}"
    );
    assert!(body.contains("db_pool_connections"), "{body}");
    assert!(body.contains("event_log_head_position"), "{body}");
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn readiness_fails_while_projections_lag_beyond_the_bound(pool: PgPool) {
    let router = router(pool.clone());
    send_one(&router, &pool).await;
    let lagging = gateway::readiness(&pool, events_bound(0)).await;
    assert!(lagging.database && lagging.migrations);
    assert!(!lagging.projections, "one event, no checkpoint, bound 0");
    assert!(gateway::readiness(&pool, events_bound(10)).await.ready());
}

#[sqlx::test]
async fn the_gateway_binary_serves_a_send_and_its_projection_to_the_recipient(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let url = database_url(&options);
    assert!(hs_admin(&url, &["migrate"]).status.success());
    assert!(hs_admin(&url, &["seed-demo"]).status.success());
    let gateway = spawn_gateway(&url, &[]).await;
    let inbox = Client::new(gateway.port)
        .alice_writes_and_bob_reads(
            r#"{"recipient":"bob","subject":"Walk","content":"The river walk helped"}"#,
        )
        .await
        .inbox;
    assert_eq!(inbox["total_unread"], 1, "{inbox}");
}

#[sqlx::test]
async fn split_mode_runs_gateway_services_and_projector_as_four_processes(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let url = database_url(&options);
    let split = spawn_split(&url).await;
    let public = split.gateway.port;
    let request_id = Client::new(public)
        .alice_writes_and_bob_reads(r#"{"recipient":"bob","content":"through four processes"}"#)
        .await
        .request_id;
    // The command service saw the gateway's request id and the client's address.
    let pool = PgPool::connect(&url).await.expect("connect");
    let metadata: serde_json::Value = sqlx::query_scalar("SELECT metadata FROM events")
        .fetch_one(&pool)
        .await
        .expect("event");
    assert_eq!(metadata["request_id"], request_id.as_str());
    assert_eq!(metadata["client_ip"], "127.0.0.1");
}

/// A `postgres://` URL nobody listens at (a port the system just handed out and took back).
fn refused_url() -> (String, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a port");
    (
        format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        port,
    )
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn hs_admin_help_describes_hs_admin_and_bad_arguments_exit_2() {
    let help = hs_admin("postgres://unused", &["--help"]);
    assert_eq!(help.status.code(), Some(0), "{}", text(&help.stderr));
    assert!(
        text(&help.stdout).starts_with("The administrators' command line of Healing Space"),
        "{}",
        text(&help.stdout)
    );
    for (args, says) in [
        (
            &["create-user", "--username", "erin", "--role", "nurse"][..],
            "[possible values: patient, clinician, admin, auditor]",
        ),
        (
            &[
                "set-approval",
                "--clinician",
                "dr_dave",
                "--patient",
                "erin",
                "--status",
                "maybe",
            ],
            "[possible values: approved, revoked]",
        ),
        (&["create-user", "--role", "patient"], "--username"),
    ] {
        let out = hs_admin("postgres://unused", args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).starts_with("error: ") && text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[tokio::test]
async fn an_unreachable_database_stops_hs_admin_and_the_gateway_at_once_saying_why() {
    let (url, port) = refused_url();
    let says = format!("cannot connect to PostgreSQL at 127.0.0.1:{port} (connection refused)");
    let started = Instant::now();
    let out = hs_admin(&url, &["migrate"]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr).trim_end(), format!("hs-admin: {says}"));

    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .env("DATABASE_URL", &url)
        .env("PORT", "0")
        .output()
        .await
        .expect("gateway runs");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(!out.status.success());
    let all = text(&out.stdout) + &text(&out.stderr);
    assert!(all.contains(&says), "{all}");
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn hs_admin_into_a_closed_pipe_ends_quietly(_: PgPoolOptions, options: PgConnectOptions) {
    let url = database_url(&options);
    let mut child = Command::new(env!("CARGO_BIN_EXE_hs-admin"))
        .arg("seed-demo")
        .env("DATABASE_URL", &url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hs-admin starts");
    drop(child.stdout.take());
    let out = child.wait_with_output().await.expect("hs-admin ends");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
}

fn events_bound(events: i64) -> gateway::LagBound {
    gateway::LagBound {
        events,
        ..gateway::LagBound::default()
    }
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn lag_is_measured_in_seconds_and_readiness_bounds_it(pool: PgPool) {
    // A minute-old event that the projection has not applied (nothing runs it here).
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
             payload, metadata, recorded_at)
         VALUES ('message', gen_random_uuid()::text, 0, 'MessageSent', '1.0', '{}', '{}',
                 now() - interval '60 seconds')",
    )
    .execute(&pool)
    .await
    .expect("event");
    // (The migrations create every checkpoint at the start of the log.)
    let (_, progress) = gateway::projection_progress(&pool).await.expect("progress");
    let mailbox = progress
        .iter()
        .find(|p| p.projection == "mailbox")
        .expect("mailbox");
    assert_eq!(mailbox.lag_events, 1);
    assert!((59.0..120.0).contains(&mailbox.lag_seconds), "{mailbox:?}");
    let strict = gateway::LagBound {
        events: 10,
        seconds: 30.0,
    };
    assert!(!gateway::readiness(&pool, strict).await.projections);
    let lenient = gateway::LagBound {
        events: 10,
        seconds: 300.0,
    };
    assert!(gateway::readiness(&pool, lenient).await.projections);
    let (_, _, body) = get(&gateway::metrics_router(pool.clone()), "/metrics").await;
    assert!(
        body.contains(r#"projection_lag_seconds{projection="mailbox"}"#),
        "{body}"
    );
}

#[sqlx::test]
async fn a_commit_on_one_gateway_wakes_the_leading_projector_on_another_within_milliseconds(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let url = database_url(&options);
    assert!(hs_admin(&url, &["migrate"]).status.success());
    assert!(hs_admin(&url, &["seed-demo"]).status.success());
    // Polls so slow that only a wake-up can explain a fast answer.
    let slow_polls = [
        ("PROJECTOR_POLL_MS", "10000".to_owned()),
        ("PROJECTOR_STANDBY_MS", "10000".to_owned()),
    ];
    let leader = spawn_gateway(&url, &slow_polls).await;
    // The first gateway takes the projections' leadership; wait until it has.
    let pool = PgPool::connect(&url).await.expect("connect");
    let started = Instant::now();
    while sqlx::query_scalar::<_, i64>("SELECT count(*) FROM projection_checkpoints")
        .fetch_one(&pool)
        .await
        .unwrap_or(0)
        < 3
    {
        assert!(started.elapsed() < Duration::from_secs(20), "no leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let standby = spawn_gateway(&url, &slow_polls).await;
    let client = Client::new(standby.port);
    let alice = client.login("alice").await;
    let bob = client.login("bob").await;
    let mut waits = Vec::new();
    for i in 0..10 {
        let body = format!(r#"{{"recipient":"bob","content":"wake {i}"}}"#);
        let (status, headers, answer) = client
            .request(
                "POST",
                "/api/messages/send",
                Some(&alice),
                Some(&body),
                None,
            )
            .await;
        assert!(status.starts_with("HTTP/1.1 201"), "{status} {answer}");
        let token = header(&headers, "x-consistency-token").expect("token");
        let sent = Instant::now();
        let (status, _, answer) = client
            .request("GET", "/api/messages/inbox", Some(&bob), None, Some(&token))
            .await;
        waits.push(sent.elapsed());
        assert!(status.starts_with("HTTP/1.1 200"), "{status} {answer}");
    }
    waits.sort();
    println!("send on the standby → visible there: {waits:?}");
    assert!(
        waits[waits.len() / 2] < Duration::from_millis(200) && waits[9] < Duration::from_secs(1),
        "median {:?}, max {:?}: the leader was not woken\n{}",
        waits[waits.len() / 2],
        waits[9],
        leader.output()
    );
}
