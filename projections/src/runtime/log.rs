//! Reading the log in commit order, and the checkpoints stored beside the read tables.

use events::LogPosition;
use sqlx::PgConnection;

use read_side::{parse_xid, StoredEvent};

use crate::error::ProjectorError;

/// The greatest position (no upper bound).
pub const END: LogPosition = LogPosition {
    transaction_id: u64::MAX,
    global_position: i64::MAX,
};

/// The append horizon (`events_horizon()`, defined by the migrations): every event of a
/// transaction id below it is final. Only transactions that append events hold it back; see
/// `docs/projector.md`. Run it as a statement of its own, *before* the read it bounds.
pub const HORIZON: &str = "SELECT events_horizon()::text";

/// The batch read: up to `$5` events after `($1, $2)` and at or before `($3, $4)`, in commit
/// order, below the horizon `$6`. The planner walks `events_commit_order_idx` from `($1, $2)` and
/// stops after `$5` rows, whatever the log's size.
pub const READ_AFTER: &str = "SELECT transaction_id::text AS xid, global_position, aggregate_type,
        aggregate_id, sequence, event_type, event_version, payload, metadata, event_id,
        recorded_at
    FROM events
    WHERE (transaction_id, global_position) > ($1::text::xid8, $2)
      AND (transaction_id, global_position) <= ($3::text::xid8, $4)
      AND transaction_id < $6::text::xid8
    ORDER BY transaction_id, global_position
    LIMIT $5";

/// Whether any event follows `($1, $2)`, final or not. Written as the first row in index order,
/// not `EXISTS (…)`: as a prepared statement PostgreSQL soon plans `EXISTS` generically, expects a
/// third of the log to match, and scans the whole heap sequentially (seconds at 1M messages); the
/// ordered `LIMIT 1` is an index probe in every plan.
pub const ANY_AFTER: &str = "SELECT 1 FROM events
    WHERE (transaction_id, global_position) > ($1::text::xid8, $2)
    ORDER BY transaction_id, global_position
    LIMIT 1";

/// The append horizon now: no event with a lower transaction id can still appear.
pub async fn horizon(conn: &mut PgConnection) -> Result<u64, ProjectorError> {
    let text: String = sqlx::query_scalar(HORIZON).fetch_one(&mut *conn).await?;
    Ok(parse_xid(&text)?)
}

/// The stored checkpoint of `$1` and the append horizon, in one statement (the horizon's own
/// snapshot is this statement's; the log must be read in a later one).
pub const CHECKPOINT_AND_HORIZON: &str = "SELECT transaction_id::text, global_position,
        events_applied, events_horizon()::text
    FROM projection_checkpoints WHERE projection = $1";

/// Stores the checkpoint of `$1`, sends `NOTIFY $5, $6`, and says whether any event (final or
/// not) follows the new checkpoint: one round trip at the end of every batch.
pub const SAVE_AND_ANNOUNCE: &str = "WITH saved AS (
        UPDATE projection_checkpoints
        SET transaction_id = $2::text::xid8, global_position = $3, events_applied = $4,
            updated_at = now()
        WHERE projection = $1
        RETURNING transaction_id, global_position
    )
    SELECT pg_notify($5, $6)::text AS told,
           EXISTS (SELECT 1 FROM (
               SELECT 1 FROM events e
               WHERE (e.transaction_id, e.global_position)
                     > (saved.transaction_id, saved.global_position)
               ORDER BY e.transaction_id, e.global_position
               LIMIT 1) next) AS more
    FROM saved";

/// The checkpoint of `projection` and the horizon the next read is bounded by.
pub(crate) async fn read_checkpoint_and_horizon(
    conn: &mut PgConnection,
    projection: &str,
) -> Result<(Checkpoint, u64), ProjectorError> {
    let row: Option<(String, i64, i64, String)> = sqlx::query_as(CHECKPOINT_AND_HORIZON)
        .bind(projection)
        .fetch_optional(&mut *conn)
        .await?;
    let (xid, global_position, events_applied, horizon) =
        row.ok_or_else(|| ProjectorError::MissingCheckpoint(projection.to_owned()))?;
    let checkpoint = Checkpoint {
        position: LogPosition {
            transaction_id: parse_xid(&xid)?,
            global_position,
        },
        events_applied,
    };
    Ok((checkpoint, parse_xid(&horizon)?))
}

/// Stores `checkpoint` for `projection`, notifies `channel` with `payload` (both take effect at
/// commit), and returns whether any committed event follows the checkpoint, final or not.
pub(crate) async fn save_and_announce(
    conn: &mut PgConnection,
    projection: &str,
    checkpoint: Checkpoint,
    channel: &str,
    payload: &str,
) -> Result<bool, ProjectorError> {
    let row: Option<(String, bool)> = sqlx::query_as(SAVE_AND_ANNOUNCE)
        .bind(projection)
        .bind(checkpoint.position.transaction_id.to_string())
        .bind(checkpoint.position.global_position)
        .bind(checkpoint.events_applied)
        .bind(channel)
        .bind(payload)
        .fetch_optional(&mut *conn)
        .await?;
    let (_, more) = row.ok_or_else(|| ProjectorError::MissingCheckpoint(projection.to_owned()))?;
    Ok(more)
}

/// Up to `limit` events after `after` and at or before `up_to`, in commit order, and only those
/// of transactions below the append horizon: each of them has committed or aborted, so no event
/// can later appear before the last one returned. The horizon is taken in a statement of its
/// own first, so the read's snapshot (READ COMMITTED: a new one per statement) sees every
/// transaction that had ended when the horizon was taken. (Under REPEATABLE READ, as in
/// `verify`, the read must also be bounded by a checkpoint `up_to` that was final.)
pub(crate) async fn read_after(
    conn: &mut PgConnection,
    after: LogPosition,
    up_to: LogPosition,
    limit: u32,
) -> Result<Vec<StoredEvent>, ProjectorError> {
    let horizon = horizon(conn).await?;
    read_below(conn, after, up_to, limit, horizon).await
}

/// Up to `limit` events after `after` and at or before `up_to`, in commit order, below
/// `horizon` (taken by an earlier statement).
pub(crate) async fn read_below(
    conn: &mut PgConnection,
    after: LogPosition,
    up_to: LogPosition,
    limit: u32,
    horizon: u64,
) -> Result<Vec<StoredEvent>, ProjectorError> {
    let rows = sqlx::query(READ_AFTER)
        .bind(after.transaction_id.to_string())
        .bind(after.global_position)
        .bind(up_to.transaction_id.to_string())
        .bind(up_to.global_position)
        .bind(i64::from(limit))
        .bind(horizon.to_string())
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows
        .iter()
        .map(StoredEvent::from_row)
        .collect::<Result<_, _>>()?)
}

/// How many events follow `after`, final or not (the size of a replay, for its progress bar).
pub(crate) async fn count_after(
    conn: &mut PgConnection,
    after: LogPosition,
) -> Result<i64, ProjectorError> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM events
         WHERE (transaction_id, global_position) > ($1::text::xid8, $2)",
    )
    .bind(after.transaction_id.to_string())
    .bind(after.global_position)
    .fetch_one(&mut *conn)
    .await?)
}

/// Whether any committed event follows `after`, final or not.
pub(crate) async fn any_after(
    conn: &mut PgConnection,
    after: LogPosition,
) -> Result<bool, ProjectorError> {
    let next: Option<i32> = sqlx::query_scalar(ANY_AFTER)
        .bind(after.transaction_id.to_string())
        .bind(after.global_position)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(next.is_some())
}

/// A projection's stored checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub position: LogPosition,
    pub events_applied: i64,
}

/// Creates the checkpoint row of `projection` at the start of the log, if it has none.
pub(crate) async fn ensure_checkpoint(
    conn: &mut PgConnection,
    projection: &str,
) -> Result<(), ProjectorError> {
    sqlx::query(
        "INSERT INTO projection_checkpoints (projection) VALUES ($1)
         ON CONFLICT (projection) DO NOTHING",
    )
    .bind(projection)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The stored checkpoint of `projection`.
pub(crate) async fn read_checkpoint(
    conn: &mut PgConnection,
    projection: &str,
) -> Result<Checkpoint, ProjectorError> {
    let row: Option<(String, i64, i64)> = sqlx::query_as(
        "SELECT transaction_id::text, global_position, events_applied
         FROM projection_checkpoints WHERE projection = $1",
    )
    .bind(projection)
    .fetch_optional(&mut *conn)
    .await?;
    let (xid, global_position, events_applied) =
        row.ok_or_else(|| ProjectorError::MissingCheckpoint(projection.to_owned()))?;
    Ok(Checkpoint {
        position: LogPosition {
            transaction_id: parse_xid(&xid)?,
            global_position,
        },
        events_applied,
    })
}

/// Stores `checkpoint` for `projection` (in the caller's transaction).
pub(crate) async fn write_checkpoint(
    conn: &mut PgConnection,
    projection: &str,
    checkpoint: Checkpoint,
) -> Result<(), ProjectorError> {
    sqlx::query(
        "UPDATE projection_checkpoints
         SET transaction_id = $2::text::xid8, global_position = $3, events_applied = $4,
             updated_at = now()
         WHERE projection = $1",
    )
    .bind(projection)
    .bind(checkpoint.position.transaction_id.to_string())
    .bind(checkpoint.position.global_position)
    .bind(checkpoint.events_applied)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
