//! What can go wrong with keys and sealed events.

use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(
        "HS_KEK_FILE is not set: message text is encrypted with keys wrapped by the \
         key-encryption keys of that file (see docs/privacy.md; HS_ENCRYPTION=off exists only \
         for the bench)"
    )]
    NoKekFile,
    #[error("HS_ENCRYPTION must be `on` or `off`, not `{0}`")]
    BadSwitch(String),
    #[error("cannot read the key-encryption key file {path}: {source}")]
    KekFile {
        path: String,
        source: std::io::Error,
    },
    #[error("the key-encryption key file {path} is malformed: {reason}")]
    KekFormat { path: String, reason: String },
    #[error(
        "key-encryption key `{0}` wraps data keys in this database but HS_KEK_FILE does not \
         hold it"
    )]
    MissingKek(String),
    #[error(
        "key-encryption key `{0}` of HS_KEK_FILE is not the key registered under that id in \
         this database (wrong key)"
    )]
    WrongKek(String),
    #[error("data key {key_id} does not open with key-encryption key `{kek_id}`")]
    Unwrap { key_id: Uuid, kek_id: String },
    #[error("event {event_type} is sealed but this process has no key-encryption keys")]
    SealedWithoutKeys { event_type: String },
    #[error("no data key {0} for a sealed event")]
    MissingDataKey(Uuid),
    #[error("sealed field `{field}` of key {key_id} does not decrypt")]
    Corrupt { key_id: Uuid, field: String },
    #[error("malformed event payload: {0}")]
    Payload(String),
    /// The process's keys could not be loaded (the first error, repeated).
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}
