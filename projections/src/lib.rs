//! The projector: folds the event log into the read tables, gap-free and exactly once.
//!
//! Two halves:
//!
//! - the **runtime** ([`ProjectorRuntime`], [`apply_next_batch`], [`log`]): reads the log in
//!   commit order, `(transaction_id, global_position)`, only below the *append horizon* (no
//!   transaction that may still commit an event earlier in that order is running; see
//!   [`log::horizon`] and `docs/projector.md`), and writes each batch with the projection's
//!   checkpoint in one transaction. It runs one leader per [`Projection`] (session advisory lock
//!   on a dedicated connection; other instances wait as hot standbys), wakes on an in-process
//!   [`tokio::sync::Notify`], on `LISTEN hs_events` and on a fallback poll, reconnects after a
//!   lost connection, and publishes each committed checkpoint on a [`tokio::sync::watch`]
//!   channel and with `NOTIFY hs_progress`;
//! - the **read models** (`messages`, the mailbox with its summaries and counters, the audit
//!   log): each applies a whole batch with a few set-based statements per table.
//!
//! The tables are created by the migrations through `create_read_model(..)`, which the
//! [`operator`] commands (`status`, `rebuild`, `verify`) also use for their scratch copies. What
//! the query side needs to know (projection names, checkpoints, channels, the stored event) lives
//! in the `read-side` crate and is re-exported here.

mod error;
pub mod operator;
pub mod read_models;
mod runtime;
mod settings;

pub use error::ProjectorError;
pub use read_side::{
    load_checkpoints, parse_progress, progress_payload, Checkpoints, Projection, StoredEvent,
    EVENTS_CHANNEL, PROGRESS_CHANNEL,
};
pub use runtime::batch::{apply_next_batch, BatchOutcome};
pub use runtime::log;
pub use runtime::{ProjectorRuntime, RuntimeStats};
pub use settings::{BadSetting, ProjectorSettings};
