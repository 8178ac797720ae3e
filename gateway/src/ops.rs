//! Operations endpoints: liveness, readiness and serving the OpenAPI document.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use sqlx::PgPool;

/// Above this many unapplied events a projection makes the gateway not ready
/// (`READY_MAX_LAG_EVENTS`).
pub const DEFAULT_MAX_LAG_EVENTS: i64 = 10_000;

/// What `/readyz` found.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Readiness {
    pub database: bool,
    pub migrations: bool,
    /// Every projection's lag is under the bound.
    pub projections: bool,
}

impl Readiness {
    /// Ready when every check passed.
    pub fn ready(&self) -> bool {
        self.database && self.migrations && self.projections
    }
}

/// Whether every embedded migration is applied successfully in the database.
pub async fn migrations_applied(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await?;
    Ok(migrations::MIGRATOR
        .iter()
        .all(|m| applied.binary_search(&m.version).is_ok()))
}

/// Runs the readiness checks; `max_lag_events` bounds every projection's lag (a log with no
/// checkpoint yet counts from position 0).
pub async fn readiness(pool: &PgPool, max_lag_events: i64) -> Readiness {
    let database = sqlx::query("SELECT 1").execute(pool).await.is_ok();
    let migrations = database && migrations_applied(pool).await.unwrap_or(false);
    let projections = migrations
        && match crate::metrics::projection_progress(pool).await {
            Ok((head, progress)) if progress.is_empty() => head <= max_lag_events,
            Ok((_, progress)) => progress.iter().all(|p| p.lag_events <= max_lag_events),
            Err(_) => false,
        };
    Readiness {
        database,
        migrations,
        projections,
    }
}

/// `GET /healthz`: the process is alive.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 when the database is reachable and migrated, else 503 with the details.
pub async fn readyz(State(pool): State<PgPool>) -> Response {
    let max_lag = std::env::var("READY_MAX_LAG_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MAX_LAG_EVENTS);
    let readiness = readiness(&pool, max_lag).await;
    let status = if readiness.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness)).into_response()
}

/// `GET /api/openapi.json`: both APIs as OpenAPI 3.1 (see [`crate::openapi`]).
pub async fn openapi_json() -> Response {
    Json(crate::openapi::openapi()).into_response()
}
