//! The messaging domain of Healing Space.
//!
//! One [`Message`] aggregate per message (its id is a UUID). Commands ([`MessageCommand`]) are
//! validated against the limits and the messaging policy of `API.md` and answer with typed
//! [`MessageError`]s; accepted commands emit versioned [`MessageEvent`]s, which are the only truth
//! of the system. The domain does no I/O of its own: it asks a [`Directory`] (the aggregate's
//! cqrs-es `Services`) for users, roles and clinician approvals, and takes the time from the
//! command, so every rule is testable with `cqrs_es::test::TestFramework`.
//!
//! Beside messages, three aggregates of the clinician tools: a clinician's [`TemplateBook`] (one
//! stream per clinician), a [`ScheduledMessage`] (delivered by the scheduler as an ordinary
//! message) and a [`Broadcast`] (appended with the messages it sends).

mod aggregate;
mod archive;
mod block;
mod broadcast;
mod commands;
mod directory;
mod error;
mod event;
pub mod limits;
mod policy;
mod position;
mod scheduled;
mod template;

pub use aggregate::{Message, MessageState};
pub use archive::{
    archive_stream, ArchiveCommand, ArchiveEvent, ConversationArchive, ARCHIVE_AGGREGATE_TYPE,
};
pub use block::{block_stream, Block, BlockCommand, BlockEvent, BLOCK_AGGREGATE_TYPE};
pub use broadcast::{
    broadcast_message_id, Broadcast, BroadcastCommand, BroadcastEvent, BroadcastSent,
    BROADCAST_AGGREGATE_TYPE, MAX_BROADCAST_RECIPIENTS,
};
pub use commands::{MessageCommand, ParentMessage, ReplyToMessage, SendMessage};
pub use directory::{Directory, DirectoryError, MessagingServices, Role, UserInfo};
pub use error::{ErrorKind, MessageError, POLICY_REFUSAL};
pub use event::{Channel, MessageEvent, EVENT_VERSION};
pub use policy::{check_policy, reply_subject};
pub use position::{BadToken, LogPosition};
pub use scheduled::{
    check_send_at, delivered_message_id, ScheduledCommand, ScheduledEvent, ScheduledMessage,
    ScheduledState, ScheduledStatus, SCHEDULED_AGGREGATE_TYPE,
};
pub use template::{
    TemplateBook, TemplateCommand, TemplateEvent, TemplateText, MAX_TEMPLATES, MAX_TITLE_CHARS,
    TEMPLATE_AGGREGATE_TYPE,
};

/// The cqrs-es aggregate type under which messages are stored in the event log.
pub const AGGREGATE_TYPE: &str = "message";
