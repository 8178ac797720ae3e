//! What the projector and the query side share, defined once: the names of the projections and
//! the tables each keeps, the checkpoints and how they are announced (`NOTIFY hs_progress`), the
//! wake-up channel of the command side, and the event as the log stores it.
//!
//! The query service depends on this crate, not on the projector: it needs to know where each
//! projection has got to, never how it gets there.

mod error;
mod progress;
mod projection;
mod stored;

pub use error::LogError;
pub use progress::{load_checkpoints, parse_progress, progress_payload, Checkpoints};
pub use projection::Projection;
pub use stored::{open_sealed, parse_xid, StoredEvent};

/// The channel the command side notifies (debounced, after commit) when it appended events.
/// The payload is the sending process's [`process_mark`].
pub const EVENTS_CHANNEL: &str = "hs_events";

/// A random mark of this process, sent as the payload of its `NOTIFY hs_events`: a projector in
/// the same process, already woken in-process by the same commit, ignores its own echo.
pub fn process_mark() -> &'static str {
    static MARK: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    MARK.get_or_init(|| uuid::Uuid::new_v4().simple().to_string())
}
/// The channel a projector notifies after each committed batch: payload `<projection> <token>`.
pub const PROGRESS_CHANNEL: &str = "hs_progress";
