//! A seeded command service and a small HTTP client for it.

use std::sync::Arc;

use accounts::ChangeListener;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use command_service::{CommandState, CommitSignal};
use events::Role;
use http_body_util::BodyExt;
use http_edge::{Edge, EdgeSettings};
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

pub const PASSWORD: &str = "healing-demo";

/// The demo users of `deploy/run.sh`, with dr_carol approved for alice.
pub async fn seed(pool: &PgPool) {
    for (username, role) in [
        ("admin", Role::Admin),
        ("auditor", Role::Auditor),
        ("alice", Role::Patient),
        ("bob", Role::Patient),
        ("dr_carol", Role::Clinician),
        ("dr_dave", Role::Clinician),
    ] {
        accounts::create_user(
            pool,
            accounts::NewUser {
                username: username.into(),
                role,
                password: PASSWORD.into(),
                display_name: None,
            },
        )
        .await
        .expect("seed user");
    }
    accounts::set_approval(
        pool,
        "dr_carol",
        "alice",
        accounts::ApprovalStatus::Approved,
    )
    .await
    .expect("seed approval");
}

pub struct TestApp {
    pub pool: PgPool,
    pub router: Router,
    pub wake: Arc<Notify>,
    /// The listener for account changes, when the caches are on.
    pub changes: Option<(ChangeListener, CancellationToken)>,
}

/// A logged-in user: the cookie and the CSRF token.
#[derive(Clone, Debug)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The error code of an error answer.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("<none>")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    pub async fn new(pool: PgPool) -> Self {
        Self::with_settings(pool, EdgeSettings::default()).await
    }

    pub async fn with_settings(pool: PgPool, settings: EdgeSettings) -> Self {
        seed(&pool).await;
        let wake = Arc::new(Notify::new());
        let state = CommandState::new(
            pool.clone(),
            Edge::new(pool.clone(), settings),
            CommitSignal::in_process(wake.clone()),
        );
        Self {
            pool,
            router: command_service::app(state),
            wake,
            changes: None,
        }
    }

    /// The service with its caches of sessions and the directory on, as the binaries run it.
    /// End the test with [`TestApp::stop`].
    pub async fn with_caches(pool: PgPool) -> Self {
        seed(&pool).await;
        let wake = Arc::new(Notify::new());
        let state = CommandState::new(
            pool.clone(),
            Edge::new(pool.clone(), EdgeSettings::default()),
            CommitSignal::in_process(wake.clone()),
        );
        let stop = CancellationToken::new();
        let listener = state.listen_for_account_changes(stop.clone()).await;
        listener
            .listening()
            .wait_for(|on| *on)
            .await
            .expect("the listener connects");
        Self {
            pool,
            router: command_service::app(state),
            wake,
            changes: Some((listener, stop)),
        }
    }

    /// Stops the listener, so that the test's database can be dropped.
    pub async fn stop(self) {
        if let Some((listener, stop)) = self.changes {
            stop.cancel();
            listener.stopped().await;
        }
    }

    pub async fn raw(&self, request: Request<Body>) -> Answer {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    /// A JSON request as `session` (with its CSRF token) or anonymously.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        session: Option<&Session>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(session) = session {
            request = request
                .header("cookie", format!("hs_session={}", session.cookie))
                .header("x-csrf-token", &session.csrf);
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        };
        self.raw(request.expect("request")).await
    }

    pub async fn login(&self, username: &str) -> Session {
        self.login_with(username, PASSWORD).await
    }

    pub async fn login_with(&self, username: &str, password: &str) -> Session {
        let answer = self
            .call(
                Method::POST,
                "/api/auth/login",
                None,
                Some(serde_json::json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "login {username}: {:?}",
            answer.body
        );
        let cookie = answer
            .header("set-cookie")
            .and_then(|c| c.split(';').next())
            .and_then(|c| c.strip_prefix("hs_session="))
            .expect("session cookie")
            .to_owned();
        Session {
            cookie,
            csrf: answer.body["csrf_token"].as_str().expect("csrf").to_owned(),
        }
    }

    pub async fn send(&self, from: &Session, to: &str, content: &str) -> Answer {
        self.call(
            Method::POST,
            "/api/messages/send",
            Some(from),
            Some(serde_json::json!({"recipient": to, "subject": "Hello", "content": content})),
        )
        .await
    }

    /// Sends and returns the new message id.
    pub async fn sent_id(&self, from: &Session, to: &str) -> String {
        let answer = self.send(from, to, "How are you feeling today?").await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        answer.body["message_id"].as_str().expect("id").to_owned()
    }

    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }

    /// The event types of one message, in order.
    pub async fn event_types(&self, message_id: &str) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT event_type FROM events WHERE aggregate_id = $1 ORDER BY sequence",
        )
        .bind(message_id)
        .fetch_all(&self.pool)
        .await
        .expect("events")
    }
}

/// The first event of message `id` as the projector sees it: its text opened with the tests'
/// key (the log itself holds it sealed).
pub async fn opened_payload(pool: &PgPool, id: &str) -> serde_json::Value {
    let (event_type, mut version, mut payload): (String, String, serde_json::Value) =
        sqlx::query_as(
            "SELECT event_type, event_version, payload FROM events
             WHERE aggregate_id = $1 ORDER BY sequence LIMIT 1",
        )
        .bind(id)
        .fetch_one(pool)
        .await
        .expect("event");
    assert_eq!(
        version,
        vault::SEALED_VERSION,
        "the log holds the text sealed"
    );
    let mut parts = [vault::EventParts {
        event_type: &event_type,
        version: &mut version,
        payload: &mut payload,
    }];
    vault::process()
        .expect("keys")
        .open(pool, &mut parts)
        .await
        .expect("opens");
    payload
}
