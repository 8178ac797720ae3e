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
pub use stored::{parse_xid, StoredEvent};

/// The channel the command side notifies (debounced, after commit) when it appended events.
pub const EVENTS_CHANNEL: &str = "hs_events";
/// The channel a projector notifies after each committed batch: payload `<projection> <token>`.
pub const PROGRESS_CHANNEL: &str = "hs_progress";
