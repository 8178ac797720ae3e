//! Helpers of the audit tests: the real command router over a seeded test database, logins,
//! requests with a chosen request id and client address, and the real projector run until the
//! audit log has caught up.

#![allow(dead_code)]

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use command_service::{CommandState, CommitSignal};
use events::Role;
use http_body_util::BodyExt;
use http_edge::{Edge, EdgeSettings, RateSettings};
use projections::{apply_next_batch, Projection};
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::Notify;
use tower::ServiceExt;

pub type Result<T> = anyhow::Result<T>;

pub const PASSWORD: &str = "healing-demo";
/// The client address every request claims through the trusted proxy.
pub const CLIENT_IP: &str = "203.0.113.7";
pub const USER_AGENT: &str = "audit-tests/1.0";
/// The proxy the requests come through (oneshot requests have no peer: 127.0.0.1).
const PROXY: &str = "127.0.0.1";

/// Users: two patients, two clinicians (dr_carol has alice), an admin and an auditor.
pub const USERS: &[(&str, Role)] = &[
    ("alice", Role::Patient),
    ("bob", Role::Patient),
    ("dr_carol", Role::Clinician),
    ("dr_dave", Role::Clinician),
    ("admin", Role::Admin),
    ("auditor", Role::Auditor),
];

/// The command service over a seeded database.
pub struct Commands {
    pub pool: PgPool,
    router: Router,
}

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct Session {
    cookie: String,
    csrf: String,
}

impl Commands {
    /// Seeds [`USERS`] and builds the command router as the gateway does.
    pub async fn new(pool: PgPool) -> Result<Self> {
        for (username, role) in USERS {
            accounts::create_user(
                &pool,
                accounts::NewUser {
                    username: (*username).into(),
                    role: *role,
                    password: PASSWORD.into(),
                    display_name: None,
                },
            )
            .await?;
        }
        accounts::set_approval(
            &pool,
            "dr_carol",
            "alice",
            accounts::ApprovalStatus::Approved,
        )
        .await?;
        let proxy: IpAddr = PROXY.parse()?;
        let settings = EdgeSettings {
            trusted_proxies: vec![proxy],
            rate: RateSettings {
                user_per_second: 10_000.0,
                user_burst: 10_000,
                ip_per_second: 10_000.0,
                ip_burst: 10_000,
                ..RateSettings::default()
            },
            ..EdgeSettings::default()
        };
        let state = CommandState::new(
            pool.clone(),
            Edge::new(pool.clone(), settings),
            CommitSignal::in_process(Arc::new(Notify::new())),
        );
        Ok(Self {
            pool,
            router: command_service::app(state),
        })
    }

    /// A request as `session` with `request_id`; the status and the JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        session: Option<&Session>,
        request_id: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value)> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("x-request-id", request_id)
            .header("x-forwarded-for", CLIENT_IP)
            .header("user-agent", USER_AGENT);
        if let Some(session) = session {
            request = request
                .header("cookie", format!("hs_session={}", session.cookie))
                .header("x-csrf-token", &session.csrf);
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))?,
            None => request.body(Body::empty())?,
        };
        let response = self.router.clone().oneshot(request).await?;
        let status = response.status();
        let set_cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response.into_body().collect().await?.to_bytes();
        let mut body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)?
        };
        if let (Some(cookie), Value::Object(map)) = (set_cookie, &mut body) {
            map.insert("_set_cookie".into(), Value::String(cookie));
        }
        Ok((status, body))
    }

    /// A request that must answer `expected`; its body.
    pub async fn expect(
        &self,
        expected: StatusCode,
        method: Method,
        path: &str,
        session: &Session,
        request_id: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let (status, answer) = self
            .call(method, path, Some(session), request_id, body)
            .await?;
        anyhow::ensure!(status == expected, "{path}: {status} {answer}");
        Ok(answer)
    }

    pub async fn login(&self, username: &str) -> Result<Session> {
        let body = json!({"username": username, "password": PASSWORD});
        let (status, answer) = self
            .call(
                Method::POST,
                "/api/auth/login",
                None,
                &format!("login-{username}"),
                Some(body),
            )
            .await?;
        anyhow::ensure!(status == StatusCode::OK, "login {username}: {answer}");
        let cookie = answer["_set_cookie"]
            .as_str()
            .and_then(|c| c.split(';').next())
            .and_then(|c| c.strip_prefix("hs_session="))
            .ok_or_else(|| anyhow::anyhow!("no session cookie"))?
            .to_owned();
        let csrf = answer["csrf_token"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no csrf token"))?
            .to_owned();
        Ok(Session { cookie, csrf })
    }

    /// `from` sends `content` to `to` (request `request_id`); the new message id.
    pub async fn send(
        &self,
        from: &Session,
        to: &str,
        subject: &str,
        content: &str,
        request_id: &str,
    ) -> Result<String> {
        let body = json!({"recipient": to, "subject": subject, "content": content});
        let answer = self
            .expect(
                StatusCode::CREATED,
                Method::POST,
                "/api/messages/send",
                from,
                request_id,
                Some(body),
            )
            .await?;
        answer["message_id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no message id: {answer}"))
    }
}

/// Runs the projector's batches of `projection` until every event of the log is applied.
pub async fn catch_up(pool: &PgPool, projection: Projection) -> Result<()> {
    let mut conn = PgConnection::connect_with(&pool.connect_options()).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let outcome = apply_next_batch(&mut conn, projection, 7).await?;
        if outcome.applied > 0 {
            continue;
        }
        let behind: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM events e, projection_checkpoints c
                            WHERE c.projection = $1
                              AND (e.transaction_id, e.global_position)
                                  > (c.transaction_id, c.global_position))",
        )
        .bind(projection.name())
        .fetch_one(pool)
        .await?;
        if !behind {
            conn.close().await?;
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{projection} never caught up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A few users exchanging messages through the command router: sends, a reply, a clinician
/// message, reads, deletes on both sides and a restore. Returns the message ids.
pub async fn small_history(commands: &Commands) -> Result<Vec<String>> {
    let alice = commands.login("alice").await?;
    let bob = commands.login("bob").await?;
    let admin = commands.login("admin").await?;
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(
            commands
                .send(
                    &alice,
                    "bob",
                    "Week",
                    &format!("note {n}"),
                    &format!("h-send-{n}"),
                )
                .await?,
        );
    }
    commands
        .expect(
            StatusCode::OK,
            Method::PATCH,
            &format!("/api/messages/{}/read", ids[1]),
            &bob,
            "h-read",
            None,
        )
        .await?;
    for (session, request_id) in [(&alice, "h-del-1"), (&bob, "h-del-2")] {
        commands
            .expect(
                StatusCode::NO_CONTENT,
                Method::DELETE,
                &format!("/api/messages/{}", ids[2]),
                session,
                request_id,
                None,
            )
            .await?;
    }
    commands
        .expect(
            StatusCode::OK,
            Method::POST,
            &format!("/api/admin/messages/{}/restore", ids[2]),
            &admin,
            "h-restore",
            None,
        )
        .await?;
    Ok(ids)
}

/// The global positions of the events, in log order.
pub async fn positions(pool: &PgPool) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT global_position FROM events ORDER BY transaction_id, global_position",
    )
    .fetch_all(pool)
    .await?)
}

/// A `postgres://` URL of the test database (trust authentication, as in the tests' cluster).
pub fn database_url(pool: &PgPool) -> String {
    let options = pool.connect_options();
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("postgres")
    )
}

/// A `postgres://` URL nobody listens at: a port the system just handed out and took back, so a
/// connection is refused at once.
pub fn refused_url() -> Result<(String, u16)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    Ok((
        format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        port,
    ))
}
