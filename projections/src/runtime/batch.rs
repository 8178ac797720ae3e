//! One batch: read the next events, apply them and move the checkpoint, in one transaction.

use events::LogPosition;
use read_side::{progress_payload, Projection, StoredEvent, PROGRESS_CHANNEL};
use sqlx::{Connection, PgConnection};

use super::locks;
use super::log::{self, Checkpoint};
use crate::error::ProjectorError;
use crate::read_models;

/// What a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Events applied (0 when the projection was already caught up).
    pub applied: usize,
    /// The checkpoint after the batch.
    pub position: LogPosition,
    /// Events applied to this projection since position 0.
    pub events_applied: i64,
    /// Whether committed events remain that are not final yet (a transaction with an older id
    /// is still appending), so that trying again soon is worthwhile.
    pub held_back: bool,
}

/// Applies the next batch of at most `batch_size` events to the live tables of `projection`.
///
/// The read-table writes, the checkpoint update and the `NOTIFY hs_progress` commit together or
/// not at all, so a crash at any point neither skips nor repeats an event. The transaction-level
/// apply lock makes concurrent callers (a second instance, a rebuild's swap) take turns; the
/// checkpoint is read after that lock, so each caller continues where the last one stopped.
pub async fn apply_next_batch(
    conn: &mut PgConnection,
    projection: Projection,
    batch_size: u32,
) -> Result<BatchOutcome, ProjectorError> {
    let name = projection.name();
    let mut tx = conn.begin().await?;
    // Neither the lock nor the reads assign a transaction id, so this transaction does not
    // hold back the horizon it reads below.
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(locks::APPLY)
        .bind(name)
        .execute(&mut *tx)
        .await?;
    let (before, horizon) = log::read_checkpoint_and_horizon(&mut tx, name).await?;
    let events = log::read_below(&mut tx, before.position, log::END, batch_size, horizon).await?;
    let Some(after) = apply_events(&mut tx, projection, before, &events).await? else {
        let held_back = log::any_after(&mut tx, before.position).await?;
        tx.commit().await?;
        return Ok(BatchOutcome {
            applied: 0,
            position: before.position,
            events_applied: before.events_applied,
            held_back,
        });
    };
    let more = log::save_and_announce(
        &mut tx,
        name,
        after,
        PROGRESS_CHANNEL,
        &progress_payload(name, after.position),
    )
    .await?;
    let held_back = events.len() < batch_size as usize && more;
    tx.commit().await?;
    record_apply_latency(name, &events);
    Ok(BatchOutcome {
        applied: events.len(),
        position: after.position,
        events_applied: after.events_applied,
        held_back,
    })
}

/// Records, per event, how long it took from its append to its projection being committed
/// (`projection_apply_latency_seconds`): the lag operators feel, in seconds, not in events.
fn record_apply_latency(projection: &'static str, events: &[StoredEvent]) {
    let now = chrono::Utc::now();
    let histogram =
        metrics::histogram!("projection_apply_latency_seconds", "projection" => projection);
    for event in events {
        let micros = (now - event.recorded_at)
            .num_microseconds()
            .unwrap_or(0)
            .max(0);
        histogram.record(micros as f64 / 1e6);
    }
}

/// Applies `events` (in commit order) on the connection's current transaction and
/// `search_path`, as one set-based change per table; returns the checkpoint after the last one,
/// or `None` when there were none.
pub(crate) async fn apply_events(
    conn: &mut PgConnection,
    projection: Projection,
    before: Checkpoint,
    events: &[StoredEvent],
) -> Result<Option<Checkpoint>, ProjectorError> {
    let Some(last) = events.last() else {
        return Ok(None);
    };
    read_models::apply(conn, projection, events).await?;
    Ok(Some(Checkpoint {
        position: last.position,
        events_applied: before.events_applied + i64::try_from(events.len()).unwrap_or(i64::MAX),
    }))
}
