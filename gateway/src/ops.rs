//! Operations endpoints: liveness, readiness and serving the OpenAPI document.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use query_service::{QueryState, ReplicaStatus};
use serde::Serialize;
use sqlx::PgPool;

/// Above this many unapplied events a projection makes the gateway not ready
/// (`READY_MAX_LAG_EVENTS`).
pub const DEFAULT_MAX_LAG_EVENTS: i64 = 10_000;

/// What `/readyz` found.
#[derive(Debug, Serialize, PartialEq)]
pub struct Readiness {
    pub database: bool,
    pub migrations: bool,
    /// Every projection's lag is under the bound.
    pub projections: bool,
    /// The query side's replicas (`QUERY_DATABASE_URL`), when it has any. They do not decide
    /// readiness: reads fall back to the primary when none can serve them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<ReplicaStatus>,
}

/// What the operations endpoints read: the primary, and the query side when it runs here.
#[derive(Clone)]
pub(crate) struct Ops {
    pub pool: PgPool,
    pub queries: Option<QueryState>,
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

/// How far behind a projection may be while the gateway calls itself ready.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LagBound {
    /// `READY_MAX_LAG_EVENTS` (default 10,000): unapplied events.
    pub events: i64,
    /// `READY_MAX_LAG_SECONDS` (default 30): age of the oldest unapplied committed event.
    pub seconds: f64,
}

impl Default for LagBound {
    fn default() -> Self {
        Self {
            events: DEFAULT_MAX_LAG_EVENTS,
            seconds: DEFAULT_MAX_LAG_SECONDS,
        }
    }
}

impl LagBound {
    /// The bound from the environment (defaults where unset or unreadable).
    pub fn from_env() -> Self {
        let read = |name: &str| std::env::var(name).ok();
        Self {
            events: read("READY_MAX_LAG_EVENTS")
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_MAX_LAG_EVENTS),
            seconds: read("READY_MAX_LAG_SECONDS")
                .and_then(|v| v.parse().ok())
                .filter(|s: &f64| s.is_finite() && *s > 0.0)
                .unwrap_or(DEFAULT_MAX_LAG_SECONDS),
        }
    }
}

/// Above this age of the oldest unapplied event a projection makes the gateway not ready.
pub const DEFAULT_MAX_LAG_SECONDS: f64 = 30.0;

/// Runs the readiness checks; `bound` limits every projection's lag in events and in seconds
/// (a log with no checkpoint yet counts from position 0).
pub async fn readiness(pool: &PgPool, bound: LagBound) -> Readiness {
    let database = sqlx::query("SELECT 1").execute(pool).await.is_ok();
    let migrations = database && migrations_applied(pool).await.unwrap_or(false);
    let projections = migrations
        && match crate::metrics::projection_progress(pool).await {
            Ok((head, progress)) if progress.is_empty() => head <= bound.events,
            Ok((_, progress)) => progress
                .iter()
                .all(|p| p.lag_events <= bound.events && p.lag_seconds <= bound.seconds),
            Err(_) => false,
        };
    Readiness {
        database,
        migrations,
        projections,
        replicas: Vec::new(),
    }
}

/// `GET /healthz`: the process is alive.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 when the database is reachable and migrated, else 503 with the details
/// (and the replicas' state, which does not decide readiness).
pub(crate) async fn readyz(State(ops): State<Ops>) -> Response {
    let mut readiness = readiness(&ops.pool, LagBound::from_env()).await;
    if let Some(queries) = &ops.queries {
        readiness.replicas = queries.replica_statuses();
    }
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
