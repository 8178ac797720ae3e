//! The event store as cqrs-es sees it: postgres-es's table, with an append that reports where it
//! landed.
//!
//! postgres-es appends event by event and says nothing of the position; reading it back after
//! the commit (on another connection) turned a stored message into an error answer whenever that
//! second read failed. Here the append is one `INSERT … SELECT FROM unnest(…) RETURNING` in its
//! own transaction, so the position comes from the statement that stored the events, and a
//! commit that succeeded always answers its success. The position reaches the handler through a
//! task-local slot ([`capture_append`]) because cqrs-es's `persist` returns `()`. A batch of
//! commands on several messages loads them in one statement ([`events_of_many`]) and appends all
//! their events in one ([`append_events`]).
//!
//! Errors keep their `sqlx::Error` inside (`PersistenceError::ConnectionError` /
//! `UnknownError`), so the edge can tell an unavailable database (503) from a bug (500).

use std::cell::Cell;

use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use cqrs_es::Aggregate;
use events::LogPosition;
use postgres_es::PostgresEventRepository;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use vault::Keyring;

/// The events of one aggregate after a sequence number, in order (a primary-key range).
pub const EVENTS_OF_AGGREGATE: &str =
    "SELECT aggregate_id, sequence, event_type, event_version, payload, metadata
     FROM events
     WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3
     ORDER BY sequence";

/// The events of several aggregates (`$2`, an array), each in order (primary-key probes).
pub const EVENTS_OF_AGGREGATES: &str =
    "SELECT aggregate_id, sequence, event_type, event_version, payload, metadata
     FROM events
     WHERE aggregate_type = $1 AND aggregate_id = ANY($2)
     ORDER BY aggregate_id, sequence";

tokio::task_local! {
    static LAST_APPEND: Cell<Option<LogPosition>>;
}

/// Runs `work` and returns, beside its output, the position of the last event it appended
/// (`None` when it appended nothing).
pub async fn capture_append<F: std::future::Future>(work: F) -> (F::Output, Option<LogPosition>) {
    LAST_APPEND
        .scope(Cell::new(None), async move {
            let output = work.await;
            (output, LAST_APPEND.with(Cell::get))
        })
        .await
}

/// The events table through cqrs-es, appending in one statement.
pub struct EventStore {
    pool: PgPool,
    /// Replays (unused by the services, required by the trait) go through postgres-es itself.
    replays: PostgresEventRepository,
}

impl EventStore {
    /// The store over `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self {
            replays: PostgresEventRepository::new(pool.clone()),
            pool,
        }
    }

    async fn select(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after_sequence: i64,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        count_loads(aggregate_type, 1);
        let rows = sqlx::query(EVENTS_OF_AGGREGATE)
            .bind(aggregate_type)
            .bind(aggregate_id)
            .bind(after_sequence)
            .fetch_all(&self.pool)
            .await
            .map_err(persistence_error)?;
        let events = rows
            .iter()
            .map(|row| serialized_event(aggregate_type, row))
            .collect::<Result<Vec<_>, _>>()?;
        open(&self.pool, events).await
    }
}

/// `events` with their sealed text opened (a reply needs its parent's subject, a scheduled
/// delivery its text): one statement for their keys, none when nothing is sealed.
async fn open(
    pool: &PgPool,
    mut events: Vec<SerializedEvent>,
) -> Result<Vec<SerializedEvent>, PersistenceError> {
    if vault::any_sealed(&events) {
        vault::process()
            .map_err(unknown)?
            .open_events(pool, &mut events)
            .await
            .map_err(vault_error)?;
    }
    Ok(events)
}

/// A key-store failure: an unavailable database stays recognisable as such (503).
fn vault_error(err: vault::VaultError) -> PersistenceError {
    match err {
        vault::VaultError::Database(err) => persistence_error(err),
        other => unknown(other),
    }
}

/// Counts aggregates loaded from the log (`aggregate_loads_total`): a send of a new message
/// loads none, so the series shows what the command path reads.
fn count_loads(aggregate_type: &str, aggregates: usize) {
    metrics::counter!("aggregate_loads_total", "aggregate" => aggregate_type.to_owned())
        .increment(u64::try_from(aggregates).unwrap_or(u64::MAX));
}

/// The events of several aggregates, each in order: one statement for a batch of commands.
pub async fn events_of_many(
    pool: &PgPool,
    aggregate_type: &str,
    aggregate_ids: &[String],
) -> Result<Vec<SerializedEvent>, PersistenceError> {
    count_loads(aggregate_type, aggregate_ids.len());
    let rows = sqlx::query(EVENTS_OF_AGGREGATES)
        .bind(aggregate_type)
        .bind(aggregate_ids)
        .fetch_all(pool)
        .await
        .map_err(persistence_error)?;
    let events = rows
        .iter()
        .map(|row| serialized_event(aggregate_type, row))
        .collect::<Result<Vec<_>, _>>()?;
    open(pool, events).await
}

/// The append: the events in one `INSERT … SELECT FROM unnest(…) RETURNING` (`$1`–`$7`), with
/// their data keys stored and an erasure's key destroyed (`$8`–`$11`, `vault::store::append_ctes`)
/// and the active KEK registered when keys are stored (`$12`, `$13`), in the same statement.
/// Built once: the same text every time, so one prepared statement.
static APPEND: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH kek AS (
             INSERT INTO key_encryption_keys (kek_id, check_value)
             SELECT $12, $13 WHERE $12::text IS NOT NULL
             ON CONFLICT (kek_id) DO NOTHING),
         {}
         appended AS (
             INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                 event_version, payload, metadata)
             SELECT e.aggregate_type, e.id, e.seq, e.type, e.version, e.payload, e.metadata
             FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[],
                         $6::jsonb[], $7::jsonb[]) WITH ORDINALITY
                  AS e(aggregate_type, id, seq, type, version, payload, metadata, ord)
             ORDER BY e.ord
             RETURNING transaction_id, global_position)
         SELECT transaction_id::text, global_position FROM appended
         ORDER BY global_position DESC LIMIT 1",
        vault::store::append_ctes(8)
    )
});

/// Appends `events` (of one aggregate or several, of one aggregate type or several: a scheduled
/// delivery appends its message and its status together) in one statement, hence one transaction, and
/// returns the position of the last one (`None` when there are none). Another writer's event at
/// one of their sequences fails them all with the optimistic-concurrency conflict.
pub async fn append_events(
    pool: &PgPool,
    events: &[SerializedEvent],
) -> Result<Option<LogPosition>, PersistenceError> {
    if events.is_empty() {
        return Ok(None);
    }
    let mut aggregate_types = Vec::with_capacity(events.len());
    let mut ids = Vec::with_capacity(events.len());
    let mut sequences = Vec::with_capacity(events.len());
    let mut types = Vec::with_capacity(events.len());
    let mut versions = Vec::with_capacity(events.len());
    let mut payloads = Vec::with_capacity(events.len());
    let mut metadata = Vec::with_capacity(events.len());
    for event in events {
        aggregate_types.push(event.aggregate_type.clone());
        ids.push(event.aggregate_id.clone());
        sequences.push(i64::try_from(event.sequence).map_err(unknown)?);
        types.push(event.event_type.clone());
        versions.push(event.event_version.clone());
        payloads.push(event.payload.clone());
        metadata.push(event.metadata.clone());
    }
    // Message text is sealed here, on its way into the log; its new data keys are stored, and
    // an erased message's key destroyed, by the same statement as the events.
    let vault = vault::process().map_err(unknown)?;
    let mut parts: Vec<vault::EventParts<'_>> = types
        .iter()
        .zip(versions.iter_mut())
        .zip(payloads.iter_mut())
        .map(|((event_type, version), payload)| vault::EventParts {
            event_type,
            version,
            payload,
        })
        .collect();
    let keys = vault.seal(pool, &mut parts).await.map_err(vault_error)?;
    let active = vault.keyring().filter(|_| !keys.ids.is_empty());
    // `ORDER BY ord` keeps global positions in the events' order; the highest one, with the
    // transaction's id, is the position a reader must reach to see all of them.
    let row: (String, i64) = sqlx::query_as(&APPEND)
        .bind(&aggregate_types)
        .bind(&ids)
        .bind(&sequences)
        .bind(&types)
        .bind(&versions)
        .bind(&payloads)
        .bind(&metadata)
        .bind(&keys.ids)
        .bind(&keys.keks)
        .bind(&keys.wrapped)
        .bind(&keys.destroy)
        .bind(active.map(Keyring::active))
        .bind(active.map(Keyring::active_check))
        .fetch_one(pool)
        .await
        .map_err(persistence_error)?;
    let transaction_id = row.0.parse().map_err(unknown)?;
    Ok(Some(LogPosition {
        transaction_id,
        global_position: row.1,
    }))
}

fn serialized_event(
    aggregate_type: &str,
    row: &PgRow,
) -> Result<SerializedEvent, PersistenceError> {
    let sequence: i64 = row.try_get("sequence").map_err(persistence_error)?;
    Ok(SerializedEvent::new(
        row.try_get("aggregate_id").map_err(persistence_error)?,
        usize::try_from(sequence).map_err(unknown)?,
        aggregate_type.to_owned(),
        row.try_get("event_type").map_err(persistence_error)?,
        row.try_get("event_version").map_err(persistence_error)?,
        row.try_get::<Value, _>("payload")
            .map_err(persistence_error)?,
        row.try_get::<Value, _>("metadata")
            .map_err(persistence_error)?,
    ))
}

fn unknown(err: impl std::error::Error + Send + Sync + 'static) -> PersistenceError {
    PersistenceError::UnknownError(Box::new(err))
}

/// A unique-key violation is another writer's event at the same sequence: the optimistic
/// concurrency conflict. Connection-level failures stay recognisable as such.
fn persistence_error(err: sqlx::Error) -> PersistenceError {
    match &err {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            PersistenceError::OptimisticLockError
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => PersistenceError::ConnectionError(Box::new(err)),
        _ => PersistenceError::UnknownError(Box::new(err)),
    }
}

impl PersistedEventRepository for EventStore {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.select(A::TYPE, aggregate_id, -1).await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let after = i64::try_from(last_sequence).map_err(unknown)?;
        self.select(A::TYPE, aggregate_id, after).await
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        _aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        // Messages are short streams: the services never configure snapshots.
        Ok(None)
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        if snapshot_update.is_some() {
            return Err(PersistenceError::UnknownError(
                "snapshots are not configured for this store".into(),
            ));
        }
        let position = append_events(&self.pool, events).await?;
        // Outside `capture_append` (a caller that does not ask) there is nowhere to report to.
        let _ = LAST_APPEND.try_with(|slot| slot.set(position.or(slot.get())));
        Ok(())
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        self.replays.stream_events::<A>(aggregate_id).await
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        self.replays.stream_all_events::<A>().await
    }
}
