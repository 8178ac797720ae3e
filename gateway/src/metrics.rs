//! `GET /metrics`: Prometheus text. Request and command metrics are recorded where they happen;
//! pool usage and projection progress are sampled at scrape time.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The process-wide recorder (installed on first use).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("seconds".into()), LATENCY_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed");
        }
        handle
    })
}

/// One projection's progress, for metrics and readiness.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionProgress {
    pub projection: String,
    pub global_position: i64,
    pub events_applied: i64,
    /// `head - global_position`: an upper bound of the events not yet applied.
    pub lag_events: i64,
    /// Age of the oldest committed event not yet applied (0 when caught up): how far behind
    /// the projection is in time, whatever holds it back (load, or an open transaction that
    /// keeps later events from being final).
    pub lag_seconds: f64,
}

/// The log's head position and every projection's checkpoint.
pub async fn projection_progress(
    pool: &PgPool,
) -> Result<(i64, Vec<ProjectionProgress>), sqlx::Error> {
    let head: i64 = sqlx::query_scalar("SELECT coalesce(max(global_position), 0) FROM events")
        .fetch_one(pool)
        .await?;
    // Per projection, the first event after its checkpoint in commit order (an index probe, as
    // the projector's own), and its age.
    let rows: Vec<(String, i64, i64, f64)> = sqlx::query_as(
        "SELECT c.projection, c.global_position, c.events_applied,
                coalesce(extract(epoch FROM now() - next.recorded_at)::float8, 0)
         FROM projection_checkpoints c
         LEFT JOIN LATERAL (
             SELECT recorded_at FROM events e
             WHERE (e.transaction_id, e.global_position) > (c.transaction_id, c.global_position)
             ORDER BY e.transaction_id, e.global_position
             LIMIT 1) next ON true
         ORDER BY c.projection",
    )
    .fetch_all(pool)
    .await?;
    let progress = rows
        .into_iter()
        .map(
            |(projection, global_position, events_applied, lag_seconds)| ProjectionProgress {
                projection,
                global_position,
                events_applied,
                lag_events: (head - global_position).max(0),
                lag_seconds: lag_seconds.max(0.0),
            },
        )
        .collect();
    Ok((head, progress))
}

/// Renders every metric in the Prometheus text format.
pub async fn metrics(State(pool): State<PgPool>) -> impl IntoResponse {
    let handle = prometheus();
    metrics::gauge!("db_pool_connections").set(f64::from(pool.size()));
    metrics::gauge!("db_pool_idle_connections").set(pool.num_idle() as f64);
    match projection_progress(&pool).await {
        Ok((head, progress)) => {
            metrics::gauge!("event_log_head_position").set(head as f64);
            for p in progress {
                let name = p.projection;
                metrics::gauge!("projection_checkpoint_position", "projection" => name.clone())
                    .set(p.global_position as f64);
                metrics::gauge!("projection_lag_events", "projection" => name.clone())
                    .set(p.lag_events as f64);
                metrics::gauge!("projection_lag_seconds", "projection" => name.clone())
                    .set(p.lag_seconds);
                metrics::gauge!("projection_events_applied", "projection" => name)
                    .set(p.events_applied as f64);
            }
        }
        Err(err) => tracing::warn!(error = %err, "cannot sample projection progress"),
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
}
