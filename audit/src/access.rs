//! The access log: who read what, recorded off the request path, never lost in silence.
//!
//! A handler calls [`AccessLogger::record`] before its answer leaves. It never waits on the
//! database: it takes one of the buffer's places and queues the entry, and a background task
//! writes the queue in batches (at least every [`FLUSH_EVERY`]). A batch that fails is retried
//! (backing off up to [`RETRY_AT_MOST`]) until it is written, in order, and keeps its places
//! until then; so while the database refuses writes the buffer fills, and once it is full
//! `record` says so ([`Unrecorded`]). What happens then is [`OnFailure`]: the read is refused
//! (`503`, the default) or served unrecorded, counted (`access_log_records_dropped_total`) and
//! logged at error level. `access_log_records_buffered` shows how full the buffer is.
//!
//! Loss window on a crash: the buffered entries (at most the buffer's capacity while the
//! database is down, else about one `FLUSH_EVERY`). On shutdown, dropping every logger lets the
//! writer write what is buffered; its owner waits a bounded time for it.

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::SubsecRound;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// How often buffered entries are written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// The longest wait between two attempts to write a failed batch.
pub const RETRY_AT_MOST: Duration = Duration::from_secs(2);
/// Entries written per statement at most.
const MAX_BATCH: usize = 500;
/// Entries buffered at most.
pub const DEFAULT_CAPACITY: usize = 20_000;

/// One read by one user.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessEntry {
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub role: String,
    /// `inbox_listed`, `sent_listed`, `conversation_viewed`, `search`, `unread_counted`,
    /// `patients_listed`, `triage_viewed`, `deleted_listed`, `audit_viewed`, `access_log_viewed`.
    pub action: &'static str,
    pub counterpart: Option<String>,
    /// The messages the answer contained.
    pub message_ids: Vec<Uuid>,
    /// For searches: the query's length in characters (never its text).
    pub query_length: Option<i32>,
    pub result_count: i32,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// Whose messages were disclosed to a reader who is not their participant (the accounting
    /// of disclosures); empty for a participant's own reads.
    pub subjects: Vec<String>,
}

/// What a read does when its entry cannot be buffered (`ACCESS_LOG_ON_FAILURE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnFailure {
    /// The read is refused (503 `unavailable`): no read goes unrecorded.
    #[default]
    Refuse,
    /// The read is served unrecorded; the entry is counted and logged at error level.
    Serve,
}

impl FromStr for OnFailure {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "refuse" => Ok(OnFailure::Refuse),
            "serve" => Ok(OnFailure::Serve),
            other => Err(format!("`{other}` is neither `refuse` nor `serve`")),
        }
    }
}

/// The entry could not be buffered (the buffer is full, or the writer has ended): under
/// [`OnFailure::Refuse`] the read must not be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the access log cannot record this read now")]
pub struct Unrecorded;

/// Sends entries to the background writer.
#[derive(Debug, Clone)]
pub struct AccessLogger {
    sender: mpsc::UnboundedSender<AccessEntry>,
    /// Entries queued or being written; never more than `capacity`.
    buffered: Arc<AtomicUsize>,
    capacity: usize,
}

impl AccessLogger {
    /// Starts the writer on `pool` with room for `capacity` entries; the task ends (after
    /// writing what is buffered) when every logger is dropped.
    pub fn spawn(pool: PgPool, capacity: usize) -> (Self, JoinHandle<()>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let buffered = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(write_loop(pool, receiver, buffered.clone()));
        let logger = Self {
            sender,
            buffered,
            capacity: capacity.max(1),
        };
        (logger, task)
    }

    /// Buffers `entry` without waiting. When it cannot be buffered: [`Unrecorded`] under
    /// [`OnFailure::Refuse`]; under [`OnFailure::Serve`] the entry is dropped, counted and
    /// logged, and the read may go on.
    pub fn record(&self, entry: AccessEntry, on_failure: OnFailure) -> Result<(), Unrecorded> {
        match self.try_buffer(entry) {
            Ok(()) => Ok(()),
            Err(entry) => match on_failure {
                OnFailure::Refuse => {
                    metrics::counter!("access_log_reads_refused_total").increment(1);
                    tracing::warn!(actor = %entry.actor, action = entry.action,
                        "access log buffer full, read refused");
                    Err(Unrecorded)
                }
                OnFailure::Serve => {
                    metrics::counter!("access_log_records_dropped_total").increment(1);
                    tracing::error!(actor = %entry.actor, action = entry.action,
                        request_id = entry.request_id.as_deref().unwrap_or_default(),
                        "access log buffer full, read served WITHOUT its access record");
                    Ok(())
                }
            },
        }
    }

    /// Entries buffered now (queued or being written).
    pub fn buffered(&self) -> usize {
        self.buffered.load(Ordering::Acquire)
    }

    fn try_buffer(&self, entry: AccessEntry) -> Result<(), Box<AccessEntry>> {
        let reserved = self
            .buffered
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.capacity).then_some(n + 1)
            });
        let Ok(before) = reserved else {
            return Err(Box::new(entry));
        };
        match self.sender.send(entry) {
            Ok(()) => {
                show_buffered(before + 1);
                Ok(())
            }
            Err(mpsc::error::SendError(entry)) => {
                release(&self.buffered, 1);
                Err(Box::new(entry))
            }
        }
    }
}

fn show_buffered(n: usize) {
    metrics::gauge!("access_log_records_buffered").set(n as f64);
}

fn release(buffered: &AtomicUsize, n: usize) {
    let before = buffered.fetch_sub(n, Ordering::AcqRel);
    show_buffered(before.saturating_sub(n));
}

async fn write_loop(
    pool: PgPool,
    mut receiver: mpsc::UnboundedReceiver<AccessEntry>,
    buffered: Arc<AtomicUsize>,
) {
    let mut batch: Vec<AccessEntry> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = receiver.recv().await {
        batch.push(first);
        let deadline = tokio::time::Instant::now() + FLUSH_EVERY;
        while batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(entry)) => batch.push(entry),
                Ok(None) | Err(_) => break,
            }
        }
        write_until_done(&pool, &batch).await;
        release(&buffered, batch.len());
        batch.clear();
    }
}

/// Writes `batch`, retrying until the database takes it: an access record is never dropped
/// here (the buffer filling up is what stops reads meanwhile).
async fn write_until_done(pool: &PgPool, batch: &[AccessEntry]) {
    let mut wait = Duration::from_millis(100);
    let mut failures = 0_u32;
    loop {
        match write_once(pool, batch).await {
            Ok(()) => {
                if failures > 0 {
                    tracing::warn!(failures, entries = batch.len(), "access log written again");
                }
                return;
            }
            Err(err) => {
                failures += 1;
                metrics::counter!("access_log_write_failures_total").increment(1);
                if failures == 1 {
                    tracing::error!(error = %err, entries = batch.len(),
                        "access log write failed; the batch is kept and retried until written");
                } else {
                    tracing::warn!(error = %err, failures, entries = batch.len(),
                        "access log write failed again");
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RETRY_AT_MOST);
            }
        }
    }
}

/// One attempt on a connection of its own: a connection that failed a write may be poisoned
/// (read-only after a switch-over, a broken pipe), so it is closed rather than given back and
/// the next attempt opens a fresh one.
async fn write_once(pool: &PgPool, batch: &[AccessEntry]) -> Result<(), sqlx::Error> {
    let mut connection = pool.acquire().await?;
    let written = insert(&mut connection, batch).await;
    if written.is_err() {
        connection.close_on_drop();
    }
    written
}

/// The transaction-level advisory lock under which the access log's chain is extended (the
/// same key as the `access_log_link` trigger's, which chains rows inserted by SQL alone).
pub const CHAIN_LOCK: i32 = 0x4853_0020;

/// Appends entries to the chain in one transaction: the lock, the chain's head read once, the
/// hashes computed here ([`crate::access_chain::access_link`]), one multi-row insert.
pub async fn insert(
    connection: &mut sqlx::PgConnection,
    entries: &[AccessEntry],
) -> Result<(), sqlx::Error> {
    use sqlx::Connection;

    use crate::access_chain::{access_link, ChainedAccess};
    use crate::chain::{hash_from_bytes, GENESIS};

    if entries.is_empty() {
        return Ok(());
    }
    let mut tx = connection.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
        .bind(CHAIN_LOCK)
        .execute(&mut *tx)
        .await?;
    let head: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT chain_seq, hash FROM access_log ORDER BY chain_seq DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
    let (mut seq, mut previous) = match head {
        Some((seq, hash)) => (
            seq,
            hash_from_bytes(&hash).ok_or_else(|| {
                sqlx::Error::Protocol(format!("access log row {seq} has a malformed hash"))
            })?,
        ),
        None => (0, GENESIS),
    };
    let mut rows = Vec::with_capacity(entries.len());
    for e in entries {
        seq += 1;
        let row = ChainedAccess {
            chain_seq: seq,
            // As PostgreSQL keeps it, so that the hash covers what is stored.
            occurred_at: e.occurred_at.trunc_subsecs(6),
            actor: e.actor.clone(),
            role: e.role.clone(),
            action: e.action.to_owned(),
            counterpart: e.counterpart.clone(),
            message_ids: e.message_ids.clone(),
            query_length: e.query_length,
            result_count: e.result_count,
            request_id: e.request_id.clone(),
            client_ip: e.client_ip.clone(),
            user_agent: e.user_agent.clone(),
            subjects: e.subjects.clone(),
        };
        let hash = access_link(&previous, &row);
        rows.push((row, previous, hash));
        previous = hash;
    }
    let mut query: QueryBuilder<Postgres> = QueryBuilder::new(
        "INSERT INTO access_log (occurred_at, actor, role, action, counterpart, message_ids, \
         query_length, result_count, request_id, client_ip, user_agent, subjects, chain_seq, \
         prev_hash, hash) ",
    );
    query.push_values(&rows, |mut b, (row, prev, hash)| {
        b.push_bind(row.occurred_at)
            .push_bind(&row.actor)
            .push_bind(&row.role)
            .push_bind(&row.action)
            .push_bind(&row.counterpart)
            .push_bind(&row.message_ids)
            .push_bind(row.query_length)
            .push_bind(row.result_count)
            .push_bind(&row.request_id)
            .push_bind(&row.client_ip)
            .push_bind(&row.user_agent)
            .push_bind(&row.subjects)
            .push_bind(row.chain_seq)
            .push_bind(prev.to_vec())
            .push_bind(hash.to_vec());
    });
    query.build().execute(&mut *tx).await?;
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::OnFailure;

    #[test]
    fn the_failure_setting_reads_refuse_or_serve_and_defaults_to_refuse() {
        assert_eq!("refuse".parse(), Ok(OnFailure::Refuse));
        assert_eq!("serve".parse(), Ok(OnFailure::Serve));
        assert!("drop".parse::<OnFailure>().is_err());
        assert_eq!(OnFailure::default(), OnFailure::Refuse);
    }
}
