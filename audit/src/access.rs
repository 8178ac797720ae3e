//! The access log: who read what, recorded off the request path.
//!
//! Handlers call [`AccessLogger::record`], which never waits: entries go into a bounded channel
//! and a background task writes them in batches (at least every [`FLUSH_EVERY`], so an entry is
//! durable within a second). When the buffer is full (the database is down for long), new
//! entries are dropped and counted (`access_log_dropped_total`) rather than slowing reads.
//! Loss window on a crash: the entries still in the buffer, at most the last `FLUSH_EVERY` plus
//! one insert's time. On shutdown, dropping every logger flushes what is buffered.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// How often buffered entries are written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);
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
    /// `patients_listed`, `deleted_listed`, `audit_viewed`, `access_log_viewed`.
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
}

/// Sends entries to the background writer.
#[derive(Debug, Clone)]
pub struct AccessLogger {
    sender: mpsc::Sender<AccessEntry>,
}

impl AccessLogger {
    /// Starts the writer on `pool`; the task ends (after a last flush) when every logger is
    /// dropped.
    pub fn spawn(pool: PgPool, capacity: usize) -> (Self, JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let task = tokio::spawn(write_loop(pool, receiver));
        (Self { sender }, task)
    }

    /// Records an entry without waiting; drops it (and counts it) when the buffer is full.
    pub fn record(&self, entry: AccessEntry) {
        if self.sender.try_send(entry).is_err() {
            metrics_dropped();
        }
    }
}

fn metrics_dropped() {
    metrics::counter!("access_log_dropped_total").increment(1);
    tracing::warn!("access log buffer full, entry dropped");
}

async fn write_loop(pool: PgPool, mut receiver: mpsc::Receiver<AccessEntry>) {
    let mut batch: Vec<AccessEntry> = Vec::with_capacity(MAX_BATCH);
    loop {
        let Some(first) = receiver.recv().await else {
            break;
        };
        batch.push(first);
        let deadline = tokio::time::Instant::now() + FLUSH_EVERY;
        while batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(entry)) => batch.push(entry),
                Ok(None) | Err(_) => break,
            }
        }
        write_with_retry(&pool, &mut batch).await;
    }
    write_with_retry(&pool, &mut batch).await;
}

async fn write_with_retry(pool: &PgPool, batch: &mut Vec<AccessEntry>) {
    let mut wait = Duration::from_millis(100);
    while !batch.is_empty() {
        match insert(pool, batch).await {
            Ok(()) => batch.clear(),
            Err(err) if wait <= Duration::from_secs(5) => {
                tracing::warn!(error = %err, entries = batch.len(), "access log write failed, retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(err) => {
                tracing::error!(error = %err, entries = batch.len(), "access log entries lost");
                batch.clear();
            }
        }
    }
}

/// Writes entries in one statement.
pub async fn insert(pool: &PgPool, entries: &[AccessEntry]) -> Result<(), sqlx::Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut query: QueryBuilder<Postgres> = QueryBuilder::new(
        "INSERT INTO access_log (occurred_at, actor, role, action, counterpart, message_ids, \
         query_length, result_count, request_id, client_ip, user_agent) ",
    );
    query.push_values(entries, |mut row, e| {
        row.push_bind(e.occurred_at)
            .push_bind(&e.actor)
            .push_bind(&e.role)
            .push_bind(e.action)
            .push_bind(&e.counterpart)
            .push_bind(&e.message_ids)
            .push_bind(e.query_length)
            .push_bind(e.result_count)
            .push_bind(&e.request_id)
            .push_bind(&e.client_ip)
            .push_bind(&e.user_agent);
    });
    query.build().execute(pool).await?;
    Ok(())
}
