//! The HTTP edge shared by the command and query services.
//!
//! Everything a request meets before its handler, written once: the [`ApiError`] envelope of
//! `API.md` (also for axum's own rejections), [`ApiJson`] for bodies, [`ClientInfo`] (client IP,
//! user agent, request id), server-side [`sessions`] with CSRF tokens, the [`Caller`] extractors
//! that enforce the API's check order (401, then 403 CSRF, then 429), token-bucket
//! [`rate_limit`]s, [`EdgeSettings`] from the environment, and [`telemetry`] set-up.

mod auth;
mod client;
mod error;
mod json;
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

use rate_limit::RateLimiter;
use sessions::SessionStore;

/// The edge's share of a service's state (extract it with `FromRef`).
#[derive(Clone)]
pub struct Edge {
    pub sessions: SessionStore,
    pub settings: Arc<EdgeSettings>,
    pub limiter: Arc<RateLimiter>,
}

impl Edge {
    /// The edge over `pool` (for the `sessions` and `users` tables).
    pub fn new(pool: sqlx::PgPool, settings: EdgeSettings) -> Self {
        let limiter = Arc::new(RateLimiter::new(settings.rate.clone()));
        Self {
            sessions: SessionStore::new(pool, settings.session_ttl),
            settings: Arc::new(settings),
            limiter,
        }
    }
}
