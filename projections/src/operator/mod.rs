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

use sqlx::PgConnection;

use crate::error::ProjectorError;
use crate::locks;
use crate::projection::Projection;

/// Where a long replay has got to, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayProgress {
    /// Events replayed so far.
    pub done: u64,
    /// Events to replay (known at the start; a live log may grow a little meanwhile).
    pub total: u64,
}

/// Takes the one-at-a-time operator lock of `projection` for this session.
async fn lock_operator(
    conn: &mut PgConnection,
    projection: Projection,
) -> Result<(), ProjectorError> {
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
        .bind(locks::OPERATOR)
        .bind(projection.name())
        .fetch_one(&mut *conn)
        .await?;
    if locked {
        Ok(())
    } else {
        Err(ProjectorError::OperatorBusy(projection.name().to_owned()))
    }
}
