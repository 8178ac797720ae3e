//! The messaging domain of Healing Space.
//!
//! One [`Message`] aggregate per message (its id is a UUID). Commands ([`MessageCommand`]) are
//! validated against the limits and the messaging policy of `API.md` and answer with typed
//! [`MessageError`]s; accepted commands emit versioned [`MessageEvent`]s, which are the only truth
//! of the system. The domain does no I/O of its own: it asks a [`Directory`] (the aggregate's
//! cqrs-es `Services`) for users, roles and clinician approvals, and takes the time from the
//! command, so every rule is testable with `cqrs_es::test::TestFramework`.

mod aggregate;
mod commands;
mod directory;
mod error;
mod event;
pub mod limits;
mod policy;
mod position;

pub use aggregate::{Message, MessageState};
pub use commands::{MessageCommand, ParentMessage, ReplyToMessage, SendMessage};
pub use directory::{Directory, DirectoryError, MessagingServices, Role, UserInfo};
pub use error::{ErrorKind, MessageError, POLICY_REFUSAL};
pub use event::{Channel, MessageEvent, EVENT_VERSION};
pub use policy::{check_policy, reply_subject};
pub use position::{BadToken, LogPosition};

/// The cqrs-es aggregate type under which messages are stored in the event log.
pub const AGGREGATE_TYPE: &str = "message";
