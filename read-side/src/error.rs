//! What can go wrong reading the log and the checkpoints.

/// Why a stored event, checkpoint or projection name could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// An event this version of the code cannot read; the projector never skips it.
    #[error("event at {position} ({event_type} v{event_version}) cannot be read: {reason}")]
    UnreadableEvent {
        position: events::LogPosition,
        event_type: String,
        event_version: String,
        reason: String,
    },
    /// A sealed event's keys could not be read or did not open it.
    #[error("sealed events: {0}")]
    Vault(#[from] vault::VaultError),
    #[error("unknown projection `{0}`")]
    UnknownProjection(String),
    #[error("stored transaction id `{0}` is not a number")]
    BadTransactionId(String),
}
