//! The query service's state: the edge (sessions, limits), the read pool, the cursor key, the
//! progress watch for consistency waits and, when configured, the access logger.

use std::sync::Arc;
use std::time::{Duration, Instant};

use audit::access::{AccessLogger, OnFailure};
use axum::extract::FromRef;
use axum::http::HeaderMap;
use deadpool_postgres::{Object, Pool};
use http_edge::{ApiError, Edge};
use read_side::{Checkpoints, Projection};
use tokio::sync::watch;

use crate::consistency::{requested_position, wait_for};
use crate::cursor::CursorKey;
use crate::db::{pg_config, pool_error, read_pool};
use crate::error::QueryError;
use crate::notifications::hub::NotificationHub;
use crate::progress::ProgressTracker;
use crate::replicas::{ReplicaSet, ReplicaStatus};
use crate::settings::QuerySettings;

/// Shared by every query handler (cheap to clone).
#[derive(Clone)]
pub struct QueryState {
    edge: Edge,
    inner: Arc<Inner>,
    /// Records who read what (see [`QueryState::with_access_log`]); `None` records nothing.
    access: Option<AccessLogger>,
    /// What a read does when its access record cannot be buffered.
    on_failure: OnFailure,
    /// Hot standbys the reads of projections go to (`QUERY_DATABASE_URL`); `None`: the primary.
    replicas: Option<ReplicaSet>,
}

struct Inner {
    reads: Pool,
    cursors: CursorKey,
    progress: ProgressTracker,
    consistency_wait: Duration,
    notifications: NotificationHub,
    /// Exports running now ([`crate::handlers::export::MAX_EXPORTS`] at most).
    exports: Arc<tokio::sync::Semaphore>,
}

/// Streams a process holds at most when `STREAM_MAX` is not set.
pub const DEFAULT_STREAM_MAX: usize = 10_000;

impl FromRef<QueryState> for Edge {
    fn from_ref(state: &QueryState) -> Edge {
        state.edge.clone()
    }
}

impl QueryState {
    /// A state from its parts, allowing [`DEFAULT_STREAM_MAX`] notification streams. Must be
    /// called within a tokio runtime (it starts the notification fan-out).
    pub fn new(
        edge: Edge,
        reads: Pool,
        progress: ProgressTracker,
        cursors: CursorKey,
        consistency_wait: Duration,
    ) -> Self {
        Self::with_stream_max(
            edge,
            reads,
            progress,
            cursors,
            consistency_wait,
            DEFAULT_STREAM_MAX,
        )
    }

    /// [`QueryState::new`] allowing `stream_max` notification streams.
    pub fn with_stream_max(
        edge: Edge,
        reads: Pool,
        progress: ProgressTracker,
        cursors: CursorKey,
        consistency_wait: Duration,
        stream_max: usize,
    ) -> Self {
        let notifications = NotificationHub::start(stream_max, progress.receiver(), reads.clone());
        edge.changes.register(Arc::new(notifications.clone()));
        Self {
            edge,
            inner: Arc::new(Inner {
                reads,
                cursors,
                progress,
                consistency_wait,
                notifications,
                exports: Arc::new(tokio::sync::Semaphore::new(
                    crate::handlers::export::MAX_EXPORTS,
                )),
            }),
            access: None,
            on_failure: OnFailure::Refuse,
            replicas: None,
        }
    }

    /// The same state, recording every answered read through `logger` before the answer
    /// leaves ([`AccessLogger::record`] never waits on the database). Without it nothing is
    /// recorded.
    pub fn with_access_log(mut self, logger: AccessLogger) -> Self {
        self.access = Some(logger);
        self
    }

    /// The same state, doing `on_failure` when a read's access record cannot be buffered
    /// (`ACCESS_LOG_ON_FAILURE`; [`QueryState::from_settings`] applies it).
    pub fn with_access_log_on_failure(mut self, on_failure: OnFailure) -> Self {
        if on_failure == OnFailure::Serve {
            tracing::warn!(
                "ACCESS_LOG_ON_FAILURE=serve: while the access log cannot be written, reads are \
                 served without their access record (counted in access_log_records_dropped_total)"
            );
        }
        self.on_failure = on_failure;
        self
    }

    /// The same state, reading the projections from `replicas` where they hold what a request
    /// needs (see [`QueryState::read_for`]).
    pub fn with_replicas(mut self, replicas: ReplicaSet) -> Self {
        self.replicas = Some(replicas);
        self
    }

    /// What the last poll of each replica found (empty without replicas).
    pub fn replica_statuses(&self) -> Vec<ReplicaStatus> {
        self.replicas
            .as_ref()
            .map(ReplicaSet::statuses)
            .unwrap_or_default()
    }

    /// The access logger and what to do when it is full, if reads are recorded.
    pub(crate) fn access_log(&self) -> Option<(&AccessLogger, OnFailure)> {
        self.access.as_ref().map(|logger| (logger, self.on_failure))
    }

    /// A state from settings: the read pool and the progress listener on `DATABASE_URL`, and
    /// the in-process projector's progress when it runs in this process (the gateway passes
    /// `Some(runtime.progress())`). Must be called within a tokio runtime.
    pub fn from_settings(
        settings: &QuerySettings,
        edge: Edge,
        in_process: Option<watch::Receiver<Checkpoints>>,
    ) -> Result<Self, QueryError> {
        let config = pg_config(settings.database_url.expose())?;
        let reads = read_pool(config.clone(), settings.read_pool_size)?;
        let cursors = match &settings.cursor_secret {
            Some(secret) => CursorKey::from_secret(secret.as_bytes()),
            None => CursorKey::random(),
        };
        let progress = ProgressTracker::start(config, in_process);
        let replicas = if settings.replica_urls.is_empty() {
            None
        } else {
            let urls: Vec<&str> = settings.replica_urls.iter().map(|u| u.expose()).collect();
            Some(ReplicaSet::start(
                &urls,
                settings.replicas,
                settings.read_pool_size,
                progress.receiver(),
            )?)
        };
        let state = Self::with_stream_max(
            edge,
            reads,
            progress,
            cursors,
            settings.consistency_wait,
            settings.stream_max,
        )
        .with_access_log_on_failure(settings.access_log_on_failure);
        Ok(match replicas {
            Some(replicas) => state.with_replicas(replicas),
            None => state,
        })
    }

    /// The live-notification fan-out of this process. Call its `shutdown` when the server
    /// stops, so that open streams end at once.
    pub fn notifications(&self) -> &NotificationHub {
        &self.inner.notifications
    }

    /// How long a read waits for its consistency token (and a stream for the first checkpoint).
    pub(crate) fn consistency_wait(&self) -> Duration {
        self.inner.consistency_wait
    }

    /// A read connection to the primary (503 when none is free in time): for what must see
    /// the primary itself (notifications, the export, the access log).
    pub(crate) async fn reads(&self) -> Result<Object, ApiError> {
        self.inner.reads.get().await.map_err(pool_error)
    }

    /// The connection to read `projections` from, honouring the request's
    /// `X-Consistency-Token`. Without a token: a healthy replica (round robin), else the
    /// primary. With one: a replica that already holds the token; else, once the primary's
    /// projections hold it (at most `CONSISTENCY_WAIT_MS`, then 503 as without replicas), a
    /// replica that replays it within `REPLICA_WAIT_MS`; else the primary. Never a replica
    /// whose checkpoints are behind the token.
    pub(crate) async fn read_for(
        &self,
        headers: &HeaderMap,
        projections: &[Projection],
    ) -> Result<Object, ApiError> {
        let Some(replicas) = &self.replicas else {
            return self.primary_for(headers, projections).await;
        };
        let token = requested_position(headers)?;
        let Some(token) = token else {
            return match replicas.healthy().await {
                Some(client) => Ok(replica_read(client)),
                None => self.primary_read().await,
            };
        };
        let names: Vec<&str> = projections.iter().map(|p| p.name()).collect();
        if let Some(client) = replicas.holding(&names, token).await {
            return Ok(replica_read(client));
        }
        // A replica gets the token from the primary: first the primary's projections apply it.
        let started = Instant::now();
        self.wait_on_primary(projections, token, self.inner.consistency_wait)
            .await?;
        let left = self
            .inner
            .consistency_wait
            .saturating_sub(started.elapsed());
        if let Some(client) = replicas
            .wait_holding(&names, token, replicas.wait().min(left))
            .await
        {
            return Ok(replica_read(client));
        }
        metrics::counter!("hs_replica_fallbacks_total").increment(1);
        tracing::debug!(%token, "no replica holds the token in time: reading the primary");
        self.primary_read().await
    }

    /// A primary connection to read `projections` from once they hold the request's
    /// `X-Consistency-Token` (for the reads that stay on the primary, as the export).
    pub(crate) async fn primary_for(
        &self,
        headers: &HeaderMap,
        projections: &[Projection],
    ) -> Result<Object, ApiError> {
        if let Some(token) = requested_position(headers)? {
            self.wait_on_primary(projections, token, self.inner.consistency_wait)
                .await?;
        }
        self.primary_read().await
    }

    async fn primary_read(&self) -> Result<Object, ApiError> {
        let client = self.reads().await?;
        metrics::counter!("hs_query_reads_total", "source" => "primary").increment(1);
        Ok(client)
    }

    async fn wait_on_primary(
        &self,
        projections: &[Projection],
        token: events::LogPosition,
        limit: Duration,
    ) -> Result<(), ApiError> {
        wait_for(self.inner.progress.receiver(), projections, token, limit).await
    }

    /// A place for one more export (503 when [`crate::handlers::export::MAX_EXPORTS`] run).
    pub(crate) fn export_permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        self.inner.exports.clone().try_acquire_owned().map_err(|_| {
            tracing::warn!("export refused: too many at once");
            ApiError::Unavailable
        })
    }

    pub(crate) fn cursors(&self) -> &CursorKey {
        &self.inner.cursors
    }
}

fn replica_read(client: Object) -> Object {
    metrics::counter!("hs_query_reads_total", "source" => "replica").increment(1);
    client
}
