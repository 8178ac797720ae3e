//! What can go wrong while projecting.

/// Why a projector step failed. Every variant leaves the read tables and the checkpoint as they
/// were: the batch's transaction is rolled back and the same events are tried again.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// An event this version of the projector cannot read; it is never skipped.
    #[error("event at {position} ({event_type} v{event_version}) cannot be read: {reason}")]
    UnreadableEvent {
        position: events::LogPosition,
        event_type: String,
        event_version: String,
        reason: String,
    },
    #[error("projection `{0}` has no checkpoint row")]
    MissingCheckpoint(String),
    #[error("unknown projection `{0}`")]
    UnknownProjection(String),
    #[error("stored transaction id `{0}` is not a number")]
    BadTransactionId(String),
    #[error("audit entry {0} has a malformed hash")]
    MalformedAuditHash(i64),
    #[error("another rebuild or verify of `{0}` is running")]
    OperatorBusy(String),
}
