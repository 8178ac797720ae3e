//! One projection's loop: become leader (or wait as standby), catch up, wait for a wake-up,
//! and start over on a fresh connection after any failure.

use std::sync::Arc;
use std::time::Duration;

use events::LogPosition;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use super::batch::apply_next_batch;
use super::locks;
use super::log;
use super::stats::RuntimeStats;
use crate::error::ProjectorError;
use crate::read_models::notifications;
use crate::settings::ProjectorSettings;
use read_side::{Checkpoints, Projection};

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// First pause before looking again when committed events wait behind an open transaction;
/// it doubles up to the poll interval while they keep waiting.
const HELD_BACK_RETRY: Duration = Duration::from_millis(20);
/// How often the mailbox's leader deletes notifications older than the feed's retention, and
/// how many rows one statement deletes.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
const PRUNE_CHUNK: i64 = 10_000;

/// Everything one projection's loop needs.
pub(crate) struct Runner {
    pub projection: Projection,
    pub options: PgConnectOptions,
    pub settings: ProjectorSettings,
    pub wake: Arc<Notify>,
    pub progress: watch::Sender<Checkpoints>,
    pub stats: Arc<RuntimeStats>,
}

impl Runner {
    /// Runs until `shutdown`; failures (a lost connection, an unreadable event) are logged and
    /// retried on a new connection with a growing pause, resuming from the stored checkpoint.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = FIRST_BACKOFF;
        while !shutdown.is_cancelled() {
            if let Err(error) = self.lead(&shutdown, &mut backoff).await {
                self.stats.set_leader(self.projection, false);
                tracing::warn!(projection = %self.projection, %error,
                    retry_in_ms = backoff.as_millis() as u64, "projector step failed");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.cancelled() => {}
                }
                backoff = (backoff * 2).min(self.settings.max_backoff);
            }
        }
        self.stats.set_leader(self.projection, false);
    }

    fn publish(&self, position: LogPosition) {
        let name = self.projection.name();
        self.progress
            .send_if_modified(|checkpoints| checkpoints.advance(name, position));
    }

    async fn connect(&self) -> Result<PgConnection, ProjectorError> {
        let options = self
            .options
            .clone()
            .application_name(&format!("hs-projector {}", self.projection));
        let mut conn = PgConnection::connect_with(&options).await?;
        log::ensure_checkpoint(&mut conn, self.projection.name()).await?;
        Ok(conn)
    }

    /// Waits for leadership; returns `false` when shut down first.
    async fn become_leader(
        &self,
        conn: &mut PgConnection,
        shutdown: &CancellationToken,
    ) -> Result<bool, ProjectorError> {
        let name = self.projection.name();
        loop {
            self.publish(log::read_checkpoint(conn, name).await?.position);
            let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
                .bind(locks::LEADER)
                .bind(name)
                .fetch_one(&mut *conn)
                .await?;
            if leader {
                return Ok(true);
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.standby_retry) => {}
                _ = shutdown.cancelled() => return Ok(false),
            }
        }
    }

    /// One connection's life: standby, then leader until shutdown or an error. The leader lock
    /// belongs to this connection, so losing the connection also gives up leadership.
    async fn lead(
        &self,
        shutdown: &CancellationToken,
        backoff: &mut Duration,
    ) -> Result<(), ProjectorError> {
        let mut conn = self.connect().await?;
        if !self.become_leader(&mut conn, shutdown).await? {
            return Ok(());
        }
        self.stats.set_leader(self.projection, true);
        tracing::info!(projection = %self.projection, "projector is leading");
        let batch_size = self.settings.batch_size;
        let poll = self.settings.poll_interval;
        let mut held_back_retry = HELD_BACK_RETRY;
        let mut next_prune = tokio::time::Instant::now();
        loop {
            if self.projection == Projection::Mailbox && tokio::time::Instant::now() >= next_prune {
                self.prune_notifications(&mut conn).await?;
                next_prune = tokio::time::Instant::now() + PRUNE_EVERY;
            }
            let held_back = loop {
                let outcome = apply_next_batch(&mut conn, self.projection, batch_size).await?;
                *backoff = FIRST_BACKOFF;
                if outcome.applied > 0 {
                    self.stats.add_applied(self.projection, outcome.applied);
                    self.publish(outcome.position);
                }
                if outcome.applied < batch_size as usize || shutdown.is_cancelled() {
                    break outcome.held_back;
                }
            };
            let pause = if held_back {
                let pause = held_back_retry.min(poll);
                held_back_retry = (held_back_retry * 2).min(poll);
                pause
            } else {
                held_back_retry = HELD_BACK_RETRY;
                poll
            };
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {
                    // Let a busy log gather into one batch (never for the mailbox, whose
                    // readers wait for a send to show).
                    let settle = self.settings.settle(self.projection);
                    if !settle.is_zero() {
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(settle) => {}
                        }
                    }
                }
                _ = tokio::time::sleep(pause) => {}
            }
        }
        self.stats.set_leader(self.projection, false);
        // Closing the session releases the leader lock at once for a standby.
        conn.close().await.ok();
        Ok(())
    }

    /// Deletes the notifications that have aged out of the feed, a chunk at a time.
    async fn prune_notifications(&self, conn: &mut PgConnection) -> Result<(), ProjectorError> {
        let mut total = 0;
        loop {
            let deleted = notifications::prune(conn, PRUNE_CHUNK).await?;
            total += deleted;
            if deleted < PRUNE_CHUNK as u64 {
                break;
            }
        }
        if total > 0 {
            tracing::info!(
                rows = total,
                "deleted notifications older than the feed's retention"
            );
        }
        Ok(())
    }
}
