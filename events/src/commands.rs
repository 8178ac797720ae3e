//! What callers ask of a message. Times come with the command so the domain stays pure.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::event::Channel;

/// Start a message (direct or through the clinician channel).
#[derive(Debug, Clone)]
pub struct SendMessage {
    pub message_id: Uuid,
    pub sender: String,
    pub recipient: String,
    pub subject: Option<String>,
    pub content: String,
    /// [`Channel::Direct`] or [`Channel::Clinician`]; replies use [`ReplyToMessage`].
    pub channel: Channel,
    pub sent_at: DateTime<Utc>,
}

/// What a reply needs to know of its parent, as loaded from the parent's own events.
#[derive(Debug, Clone)]
pub struct ParentMessage {
    pub message_id: Uuid,
    pub sender: String,
    pub recipient: String,
    pub subject: Option<String>,
    pub deleted_by_sender: bool,
    pub deleted_by_recipient: bool,
}

/// Reply to a message; the reply goes to the parent's other participant.
#[derive(Debug, Clone)]
pub struct ReplyToMessage {
    pub message_id: Uuid,
    pub sender: String,
    pub parent_message_id: Uuid,
    /// The parent as its events tell it, or `None` when no such message exists.
    pub parent: Option<ParentMessage>,
    pub subject: Option<String>,
    pub content: String,
    pub sent_at: DateTime<Utc>,
}

/// The commands of the [`crate::Message`] aggregate.
#[derive(Debug, Clone)]
pub enum MessageCommand {
    Send(SendMessage),
    Reply(ReplyToMessage),
    MarkRead {
        message_id: Uuid,
        reader: String,
        at: DateTime<Utc>,
    },
    Delete {
        message_id: Uuid,
        actor: String,
        at: DateTime<Utc>,
    },
    Restore {
        message_id: Uuid,
        actor: String,
        at: DateTime<Utc>,
    },
    /// Destroy the message's text (an administrator, with a reason).
    Erase {
        message_id: Uuid,
        actor: String,
        reason: String,
        at: DateTime<Utc>,
    },
    /// Place or release a legal hold (an administrator, with a reason).
    SetHold {
        message_id: Uuid,
        actor: String,
        held: bool,
        reason: String,
        at: DateTime<Utc>,
    },
}

impl MessageCommand {
    /// A stable name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            MessageCommand::Send(send) if send.channel == Channel::Clinician => "clinician_message",
            MessageCommand::Send(_) => "send",
            MessageCommand::Reply(_) => "reply",
            MessageCommand::MarkRead { .. } => "mark_read",
            MessageCommand::Delete { .. } => "delete",
            MessageCommand::Restore { .. } => "restore",
            MessageCommand::Erase { .. } => "erase",
            MessageCommand::SetHold { .. } => "hold",
        }
    }
}
