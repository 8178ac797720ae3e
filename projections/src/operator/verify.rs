//! `projector verify`: replay the log into scratch tables and compare them with the live ones.

use events::LogPosition;
use sqlx::{Connection, PgConnection, PgPool};

use crate::error::ProjectorError;
use crate::operator::scratch::{Scratch, ZERO};
use crate::operator::{lock_operator, unlock_operator, ReplayProgress};
use crate::runtime::log;
use read_side::Projection;

/// How one table differs between the live copy and the replayed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDiff {
    pub table: &'static str,
    pub live_rows: i64,
    pub rebuilt_rows: i64,
    /// Rows of the live table with no identical row in the rebuilt one (counted with repeats).
    pub only_live: i64,
    /// Rows of the rebuilt table with no identical row in the live one.
    pub only_rebuilt: i64,
    /// Keys of a few differing rows (either side).
    pub sample_keys: Vec<String>,
}

impl TableDiff {
    /// Whether both copies hold exactly the same rows.
    pub fn is_clean(&self) -> bool {
        self.only_live == 0 && self.only_rebuilt == 0
    }
}

/// The comparison of one projection at one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub projection: Projection,
    /// The live checkpoint both copies were compared at.
    pub position: LogPosition,
    pub tables: Vec<TableDiff>,
}

impl VerifyReport {
    /// Whether every table matched.
    pub fn is_clean(&self) -> bool {
        self.tables.iter().all(TableDiff::is_clean)
    }
}

/// The columns that name a row of each read table, for the diff summary (for a table not
/// listed here, the start of the row's text).
fn key_columns(table: &str) -> &'static str {
    match table {
        "messages" => "id::text",
        "mailbox" => "owner || '/' || message_id",
        "conversations" => "owner || '/' || counterpart",
        "unread_counters" => "owner",
        "notifications" => "recipient || '/' || global_position",
        "triage_waits" => "clinician || '/' || patient",
        "triage_replies" => "clinician || '/' || patient || '/' || message_id",
        "templates" => "template_id::text",
        "scheduled_messages" => "scheduled_id::text",
        "blocks" => "blocker || '/' || blocked",
        "archived_conversations" => "owner || '/' || counterpart",
        _ => "left(d::text, 60)",
    }
}

/// The rows of each read table that both copies must hold: all of them, except in the
/// notification feed, which keeps only its retention window (older rows are deleted live when
/// the projector gets to them, and a replay does not write them). Both copies hold every row
/// younger than the window at this transaction's `now()`.
fn compared_rows(table: &str) -> &'static str {
    match table {
        "notifications" => {
            "WHERE occurred_at >= now() - (SELECT retention FROM public.notification_feed)"
        }
        _ => "",
    }
}

/// Replays `projection` into `hs_verify_<name>` up to the live checkpoint and compares.
///
/// The replay runs in committed batches up to the live checkpoint seen at the start; the last
/// step is one repeatable-read transaction that reads the live checkpoint and tables from one
/// snapshot, replays the few events the live projector applied meanwhile, compares every table
/// row for row (`EXCEPT ALL` both ways) and rolls back. The live projector is never blocked.
pub async fn verify(
    pool: &PgPool,
    projection: Projection,
    batch_size: u32,
    on_progress: &dyn Fn(ReplayProgress),
) -> Result<VerifyReport, ProjectorError> {
    let mut conn = pool.acquire().await?.detach();
    lock_operator(&mut conn, projection).await?;
    let result = match Scratch::create(&mut conn, projection, "verify").await {
        Ok(scratch) => {
            let compared = compare_after_replay(&mut conn, &scratch, batch_size, on_progress).await;
            scratch.drop(&mut conn).await.ok();
            compared
        }
        Err(error) => Err(error),
    };
    unlock_operator(&mut conn, projection).await;
    conn.close().await.ok();
    result
}

async fn compare_after_replay(
    conn: &mut PgConnection,
    scratch: &Scratch,
    batch_size: u32,
    on_progress: &dyn Fn(ReplayProgress),
) -> Result<VerifyReport, ProjectorError> {
    let name = scratch.projection.name();
    // The comparison needs no secondary index; the replay is faster without them.
    scratch.defer_indexes(conn).await?;
    sqlx::query("SET synchronous_commit = off")
        .execute(&mut *conn)
        .await?;
    let start = log::read_checkpoint(conn, name).await?;
    let total = u64::try_from(start.events_applied).unwrap_or(0);
    on_progress(ReplayProgress { done: 0, total });
    let replayed = scratch
        .replay(conn, ZERO, start.position, batch_size, total, on_progress)
        .await?;
    let mut tx = conn.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *tx)
        .await?;
    let live = log::read_checkpoint(&mut tx, name).await?;
    scratch.enter(&mut tx).await?;
    scratch
        .replay_in(&mut tx, replayed, live.position, batch_size)
        .await?;
    let mut tables = Vec::new();
    for table in scratch.projection.tables() {
        tables.push(compare_table(&mut tx, &scratch.ident(), table).await?);
    }
    tx.rollback().await?;
    Ok(VerifyReport {
        projection: scratch.projection,
        position: live.position,
        tables,
    })
}

async fn compare_table(
    tx: &mut PgConnection,
    scratch: &str,
    table: &'static str,
) -> Result<TableDiff, ProjectorError> {
    let rows = compared_rows(table);
    let live = format!("(SELECT * FROM public.\"{table}\" {rows})");
    let rebuilt = format!("(SELECT * FROM {scratch}.\"{table}\" {rows})");
    let (live_rows, rebuilt_rows, only_live, only_rebuilt): (i64, i64, i64, i64) =
        sqlx::query_as(&format!(
            "SELECT (SELECT count(*) FROM {live} l), (SELECT count(*) FROM {rebuilt} r),
                    (SELECT count(*) FROM (SELECT * FROM {live} l EXCEPT ALL
                                           SELECT * FROM {rebuilt} r) d),
                    (SELECT count(*) FROM (SELECT * FROM {rebuilt} r EXCEPT ALL
                                           SELECT * FROM {live} l) d)"
        ))
        .fetch_one(&mut *tx)
        .await?;
    let key = key_columns(table);
    let sample_keys = if only_live + only_rebuilt > 0 {
        sqlx::query_scalar(&format!(
            "SELECT DISTINCT {key} FROM (
                 (SELECT * FROM {live} l EXCEPT ALL SELECT * FROM {rebuilt} r)
                 UNION ALL
                 (SELECT * FROM {rebuilt} r EXCEPT ALL SELECT * FROM {live} l)) d
             LIMIT 5"
        ))
        .fetch_all(&mut *tx)
        .await?
    } else {
        Vec::new()
    };
    Ok(TableDiff {
        table,
        live_rows,
        rebuilt_rows,
        only_live,
        only_rebuilt,
        sample_keys,
    })
}
