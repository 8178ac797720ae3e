//! `projector rebuild`: replay the log into fresh tables and swap them in while the system runs.

use events::LogPosition;
use sqlx::{Connection, PgConnection, PgPool};

use crate::error::ProjectorError;
use crate::operator::scratch::{Scratch, ZERO};
use crate::operator::{lock_operator, unlock_operator, ReplayProgress};
use crate::runtime::locks;
use crate::runtime::log::{self, END};
use read_side::progress_payload;
use read_side::Projection;
use read_side::PROGRESS_CHANNEL;

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    pub projection: Projection,
    /// Events in the rebuilt tables (the new `events_applied`).
    pub events_applied: i64,
    /// The checkpoint the swapped-in tables are at.
    pub position: LogPosition,
}

/// Rebuilds `projection` from position 0 and swaps the new tables in.
///
/// The long replay runs in large committed batches into `hs_rebuild_<name>` while the live
/// tables keep serving and the live projector keeps applying; the scratch tables' secondary
/// indexes are dropped for the load and built once after it (with a larger
/// `maintenance_work_mem`), and the session commits without waiting for the WAL flush (a crash
/// loses only scratch rows, which a new rebuild starts over anyway). The swap is one short
/// transaction: it takes the projection's apply lock (the live projector finishes its batch,
/// then waits), applies the events the replay has not seen yet, moves the live tables out and
/// the new ones in with `ALTER TABLE .. SET SCHEMA` (same names, constraints and indexes),
/// stores the new checkpoint and drops the old tables. Queries see either the old or the new
/// tables, never a mix.
pub async fn rebuild(
    pool: &PgPool,
    projection: Projection,
    batch_size: u32,
    on_progress: &dyn Fn(ReplayProgress),
) -> Result<RebuildReport, ProjectorError> {
    let mut conn = pool.acquire().await?.detach();
    lock_operator(&mut conn, projection).await?;
    let result = replay_and_swap(&mut conn, projection, batch_size, on_progress).await;
    unlock_operator(&mut conn, projection).await;
    conn.close().await.ok();
    result
}

async fn replay_and_swap(
    conn: &mut PgConnection,
    projection: Projection,
    batch_size: u32,
    on_progress: &dyn Fn(ReplayProgress),
) -> Result<RebuildReport, ProjectorError> {
    log::ensure_checkpoint(conn, projection.name()).await?;
    sqlx::query("SET synchronous_commit = off")
        .execute(&mut *conn)
        .await?;
    sqlx::query("SET maintenance_work_mem = '256MB'")
        .execute(&mut *conn)
        .await?;
    let scratch = Scratch::create(conn, projection, "rebuild").await?;
    let total = u64::try_from(log::count_after(conn, LogPosition::START).await?).unwrap_or(0);
    on_progress(ReplayProgress { done: 0, total });
    let result = async {
        let deferred = scratch.defer_indexes(conn).await?;
        let replayed = scratch
            .replay(conn, ZERO, END, batch_size, total, on_progress)
            .await?;
        scratch.create_indexes(conn, &deferred).await?;
        swap(conn, &scratch, replayed, batch_size).await
    }
    .await;
    if result.is_err() {
        scratch.drop(conn).await.ok();
    }
    result
}

async fn swap(
    conn: &mut PgConnection,
    scratch: &Scratch,
    replayed: log::Checkpoint,
    batch_size: u32,
) -> Result<RebuildReport, ProjectorError> {
    let projection = scratch.projection;
    let name = projection.name();
    let retired = format!("\"hs_retired_{name}\"");
    let mut tx = conn.begin().await?;
    sqlx::query("SET LOCAL lock_timeout = '60s'")
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(locks::APPLY)
        .bind(name)
        .execute(&mut *tx)
        .await?;
    scratch.enter(&mut tx).await?;
    let last = scratch
        .replay_in(&mut tx, replayed, END, batch_size)
        .await?;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {retired} CASCADE"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("CREATE SCHEMA {retired}"))
        .execute(&mut *tx)
        .await?;
    for table in projection.tables() {
        sqlx::query(&format!(
            "ALTER TABLE public.\"{table}\" SET SCHEMA {retired}"
        ))
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "ALTER TABLE {}.\"{table}\" SET SCHEMA public",
            scratch.ident()
        ))
        .execute(&mut *tx)
        .await?;
    }
    log::write_checkpoint(&mut tx, name, last).await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(PROGRESS_CHANNEL)
        .bind(progress_payload(name, last.position))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("DROP SCHEMA {retired} CASCADE"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("DROP SCHEMA {} CASCADE", scratch.ident()))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(
        projection = name,
        events = last.events_applied,
        "rebuilt tables swapped in"
    );
    Ok(RebuildReport {
        projection,
        events_applied: last.events_applied,
        position: last.position,
    })
}
