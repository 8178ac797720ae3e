//! The projector: folds the event log into the read tables, gap-free and exactly once.
//!
//! Events are read in commit order, `(transaction_id, global_position)`, and only below
//! `pg_snapshot_xmin(pg_current_snapshot())`, so a transaction that commits after a later-started
//! one is never skipped (ARCHITECTURE principle 2). Each batch of events and the projection's
//! checkpoint are written in one transaction ([`apply_next_batch`]). A [`ProjectorRuntime`] runs
//! one leader per [`Projection`] (session advisory lock on a dedicated connection; other
//! instances wait as hot standbys), wakes on an in-process [`tokio::sync::Notify`], on
//! `LISTEN hs_events` and on a fallback poll, reconnects after a lost connection, and publishes
//! each committed checkpoint on a [`tokio::sync::watch`] channel and with `NOTIFY hs_progress`.
//!
//! The read models ([`Projection::Messages`]: the original `messages` table;
//! [`Projection::Mailbox`]: per-participant mailbox, conversation summaries, unread counters
//! and the search vector) are created by the migrations through `create_read_model(..)`, which
//! the [`operator`] commands (`status`, `rebuild`, `verify`) also use for their scratch copies.

mod audit_log;
mod batch;
mod error;
mod event;
mod locks;
pub mod log;
mod mailbox;
mod messages;
pub mod operator;
mod progress;
mod projection;
mod runner;
mod runtime;
mod settings;
mod waker;

pub use batch::{apply_next_batch, BatchOutcome};
pub use error::ProjectorError;
pub use event::StoredEvent;
pub use progress::{load_checkpoints, parse_progress, progress_payload, Checkpoints};
pub use projection::Projection;
pub use runtime::{ProjectorRuntime, RuntimeStats};
pub use settings::{BadSetting, ProjectorSettings};

/// The channel the command side notifies (debounced, after commit) when it appended events.
pub const EVENTS_CHANNEL: &str = "hs_events";
/// The channel a projector notifies after each committed batch: payload `<projection> <token>`.
pub const PROGRESS_CHANNEL: &str = "hs_progress";
