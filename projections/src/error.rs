//! What can go wrong while projecting.

/// Why a projector step failed. Every variant leaves the read tables and the checkpoint as they
/// were: the batch's transaction is rolled back and the same events are tried again.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// An unreadable event (never skipped), a bad stored transaction id or an unknown name.
    #[error(transparent)]
    Log(#[from] read_side::LogError),
    #[error("projection `{0}` has no checkpoint row")]
    MissingCheckpoint(String),
    #[error("audit entry {0} has a malformed hash")]
    MalformedAuditHash(i64),
    #[error("another rebuild or verify of `{0}` is running")]
    OperatorBusy(String),
}
