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

use login_throttle::LoginThrottle;
use rate_limit::{retry_after_secs, RateLimiter};
use sessions::SessionStore;

/// The edge's share of a service's state (extract it with `FromRef`).
#[derive(Clone)]
pub struct Edge {
    pub sessions: SessionStore,
    pub settings: Arc<EdgeSettings>,
    pub limiter: Arc<RateLimiter>,
    pub login_throttle: Arc<LoginThrottle>,
}

impl Edge {
    /// Takes a token from the client IP's bucket (429 with `Retry-After` when empty).
    pub fn take_ip(&self, ip: std::net::IpAddr) -> Result<(), ApiError> {
        limited(self.limiter.per_ip.take(&ip, std::time::Instant::now()))
    }

    /// Takes a token from the user's bucket of message-creating commands.
    pub fn take_user(&self, username: &str) -> Result<(), ApiError> {
        limited(
            self.limiter
                .per_user
                .take(&username.to_owned(), std::time::Instant::now()),
        )
    }

    /// The edge over `pool` (for the `sessions` and `users` tables).
    pub fn new(pool: sqlx::PgPool, settings: EdgeSettings) -> Self {
        let limiter = Arc::new(RateLimiter::new(settings.rate.clone()));
        Self {
            sessions: SessionStore::new(pool, settings.session_ttl, settings.session_idle),
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
pub async fn connect_pool(url: &DatabaseUrl, max: u32) -> Result<sqlx::PgPool, sqlx::Error> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .before_acquire(|_, meta| Box::pin(async move { Ok(!db::is_stale(meta.age)) }))
        .after_release(|_, meta| Box::pin(async move { Ok(!db::is_stale(meta.age)) }))
        .connect(url.expose())
        .await
}
