//! The HTTP edge shared by the command and query services.
//!
//! Everything a request meets before its handler, written once: the [`ApiError`] envelope of
//! `API.md` (also for axum's own rejections), [`ApiJson`] for bodies, [`ClientInfo`] (client IP,
//! user agent, request id), server-side [`sessions`] with CSRF tokens, the [`Caller`] extractors
//! that enforce the API's check order (401, then 403 CSRF, then 429), token-bucket
//! [`rate_limit`]s, [`EdgeSettings`] from the environment, and [`telemetry`] set-up.

mod auth;
mod client;
pub mod db;
mod error;
mod json;
pub mod login_throttle;
pub mod metrics;
pub mod rate_limit;
pub mod routes;
pub mod sessions;
mod settings;
mod shutdown;
pub mod telemetry;

pub use auth::{Caller, MessageQuota};
pub use client::{client_ip, request_id_layer, ClientInfo, RequestId};
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use json::ApiJson;
pub use routes::{
    api_fallbacks, common_layers, session_command_routes, session_query_routes, CsrfTokenBody,
    LoginBody, LoginResponse, MeResponse,
};
pub use settings::{
    parse as parse_setting, DatabaseUrl, EdgeSettings, RateSettings, SettingsError,
};
pub use shutdown::shutdown_signal;

use std::sync::Arc;

use accounts::AccountCaches;
use login_throttle::LoginThrottle;
use rate_limit::{retry_after_secs, RateLimiter};
use sessions::SessionStore;

/// The edge's share of a service's state (extract it with `FromRef`).
#[derive(Clone)]
pub struct Edge {
    pub sessions: SessionStore,
    /// The process's caches of account data (the sessions', and the directory's when the
    /// command side registers it), for its listener and its own account changes.
    pub changes: AccountCaches,
    pub settings: Arc<EdgeSettings>,
    pub limiter: Arc<RateLimiter>,
    pub login_throttle: Arc<LoginThrottle>,
}

impl Edge {
    /// Takes a token from the client IP's bucket (429 with `Retry-After` when empty).
    pub async fn take_ip(&self, ip: std::net::IpAddr) -> Result<(), ApiError> {
        limited(self.limiter.take_ip(ip).await)
    }

    /// Takes a token from the user's bucket of message-creating commands.
    pub async fn take_user(&self, username: &str) -> Result<(), ApiError> {
        limited(self.limiter.take_user(username).await)
    }

    /// Whether a login for `username` from `ip` may be checked now (429 with `Retry-After`
    /// while failed logins are throttled).
    pub fn take_login(&self, username: &str, ip: std::net::IpAddr) -> Result<(), ApiError> {
        limited(
            self.login_throttle
                .check(username, ip, std::time::Instant::now()),
        )
    }

    /// The edge over `pool` (for the `sessions` and `users` tables). Its session cache stays
    /// off until a [`accounts::ChangeListener`] keeps [`Edge::changes`].
    pub fn new(pool: sqlx::PgPool, settings: EdgeSettings) -> Self {
        let limiter = Arc::new(
            RateLimiter::new(settings.rate.clone()).unwrap_or_else(|err| {
                // `EdgeSettings::from_lookup` checked the URL already; a hand-made one that is
                // not a Redis URL leaves the limits in this process.
                tracing::error!(error = %err, "rate limits stay in this process");
                RateLimiter::local(settings.rate.clone())
            }),
        );
        let sessions = SessionStore::new(pool, settings.session_ttl, settings.session_idle)
            .with_cache(settings.session_cache_size);
        let changes = AccountCaches::default();
        changes.register(sessions.cache());
        Self {
            sessions,
            changes,
            login_throttle: Arc::new(LoginThrottle::default()),
            settings: Arc::new(settings),
            limiter,
        }
    }
}

fn limited(taken: Result<(), std::time::Duration>) -> Result<(), ApiError> {
    taken.map_err(|wait| ApiError::RateLimited {
        retry_after_secs: retry_after_secs(wait),
    })
}

/// A PostgreSQL pool of at most `max` connections that gives up acquiring after 5 s (the
/// request then answers 503 rather than hanging), and never hands out a connection opened
/// before the last poisoning fault ([`db`]).
///
/// It first opens one connection by itself, at most [`CONNECT_TIMEOUT`]: a pool retries a
/// refused connection until its timeout and then reports only "pool timed out", while an
/// operator needs to hear, at once, what failed.
pub async fn connect_pool(url: &DatabaseUrl, max: u32) -> Result<sqlx::PgPool, ConnectError> {
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    use sqlx::Connection;

    let options: PgConnectOptions = url.expose().parse().map_err(ConnectError::InvalidUrl)?;
    let at = match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    };
    let unreachable = |error| ConnectError::Unreachable {
        at: at.clone(),
        error,
    };
    let first = tokio::time::timeout(CONNECT_TIMEOUT, sqlx::PgConnection::connect_with(&options))
        .await
        .map_err(|_| ConnectError::TimedOut { at: at.clone() })?
        .map_err(unreachable)?;
    first.close().await.ok();
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .before_acquire(|_, meta| Box::pin(async move { Ok(!db::is_stale(meta.age)) }))
        .after_release(|_, meta| Box::pin(async move { Ok(!db::is_stale(meta.age)) }))
        .connect_with(options)
        .await
        .map_err(unreachable)
}

/// How long [`connect_pool`] waits for PostgreSQL to answer at all.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Why [`connect_pool`] found no database: where it tried and what failed (never the password).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("DATABASE_URL is not a PostgreSQL URL")]
    InvalidUrl(#[source] sqlx::Error),
    #[error("cannot connect to PostgreSQL at {at} ({})", connect_cause(.error))]
    Unreachable { at: String, error: sqlx::Error },
    #[error("cannot connect to PostgreSQL at {at} (no answer within {} s)", CONNECT_TIMEOUT.as_secs())]
    TimedOut { at: String },
}

/// The cause of a failed connection in a few words: "connection refused", or the server's own
/// message ("password authentication failed for user ...", "database ... does not exist").
fn connect_cause(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Io(io) => {
            use std::io::ErrorKind::*;
            match io.kind() {
                kind @ (ConnectionRefused | ConnectionReset | ConnectionAborted | TimedOut) => {
                    kind.to_string()
                }
                _ => io.to_string(),
            }
        }
        sqlx::Error::Database(db) => db.message().to_owned(),
        sqlx::Error::PoolTimedOut => "no connection within 5 s".to_owned(),
        other => other.to_string(),
    }
}
