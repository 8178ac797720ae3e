//! Operator commands behind the `projector` binary: [`status`], [`rebuild`] and [`verify`].
//!
//! Rebuild and verify replay the log from position 0 into a scratch schema whose tables are made
//! by the same `create_read_model(..)` as the live ones, in short committed batches so that the
//! live projectors are never held back for long.

mod rebuild;
mod scratch;
mod status;
mod verify;

pub use rebuild::{rebuild, RebuildReport};
pub use status::{status, ProjectionStatus};
pub use verify::{verify, TableDiff, VerifyReport};

use sqlx::{Connection, PgConnection};

use crate::error::ProjectorError;
use crate::runtime::locks;
use read_side::Projection;

/// Where a long replay has got to, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayProgress {
    /// Events replayed so far.
    pub done: u64,
    /// Events to replay (known at the start; a live log may grow a little meanwhile).
    pub total: u64,
}

/// How long an operator command waits for another one on the same projection to finish before
/// it reports [`ProjectorError::OperatorBusy`]. Short, but long enough for the server to end the
/// session of a command that has just exited (its lock is released only then).
const OPERATOR_WAIT: &str = "3s";

/// Takes the one-at-a-time operator lock of `projection` for this session, waiting at most
/// [`OPERATOR_WAIT`] for a running command to finish.
async fn lock_operator(
    conn: &mut PgConnection,
    projection: Projection,
) -> Result<(), ProjectorError> {
    // A session-level lock taken in a transaction outlives it; `SET LOCAL` bounds the wait.
    let mut tx = conn.begin().await?;
    sqlx::query(&format!("SET LOCAL lock_timeout = '{OPERATOR_WAIT}'"))
        .execute(&mut *tx)
        .await?;
    let locked = sqlx::query("SELECT pg_advisory_lock($1, hashtext($2))")
        .bind(locks::OPERATOR)
        .bind(projection.name())
        .execute(&mut *tx)
        .await;
    match locked {
        Ok(_) => Ok(tx.commit().await?),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(LOCK_NOT_AVAILABLE) => {
            Err(ProjectorError::OperatorBusy(projection.name().to_owned()))
        }
        Err(e) => Err(e.into()),
    }
}

/// SQLSTATE of a lock wait that hit `lock_timeout`.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// Releases the operator lock before the session ends. Closing the connection would release
/// it too, but only once the server has ended the session, which happens after the client has
/// moved on: the next command could still find the projection busy.
async fn unlock_operator(conn: &mut PgConnection, projection: Projection) {
    let released = sqlx::query("SELECT pg_advisory_unlock($1, hashtext($2))")
        .bind(locks::OPERATOR)
        .bind(projection.name())
        .execute(&mut *conn)
        .await;
    if let Err(error) = released {
        tracing::warn!(%error, projection = projection.name(), "operator lock not released");
    }
}
