//! The versioned events of a message's life. They are a contract: names and fields never change
//! meaning; a new shape gets a new `event_version` and an upcaster for the old one.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::directory::Role;

/// The version every event is written with today.
pub const EVENT_VERSION: &str = "1.0";

/// How a message was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// `POST /api/messages/send`
    Direct,
    /// `POST /api/clinician/message`
    Clinician,
    /// `POST /api/messages/{id}/reply`
    Reply,
    /// Delivered by the scheduler (`POST /api/messages/scheduled`).
    Scheduled,
    /// One of a clinician's broadcast (`POST /api/clinician/messages/broadcast`).
    Broadcast,
}

impl Channel {
    /// The channel's name as events and audit entries spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Direct => "direct",
            Channel::Clinician => "clinician",
            Channel::Reply => "reply",
            Channel::Scheduled => "scheduled",
            Channel::Broadcast => "broadcast",
        }
    }
}

/// Everything that can happen to a message. Each event carries both participants so that
/// projections never need to look anything up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MessageEvent {
    MessageSent {
        message_id: Uuid,
        sender: String,
        sender_role: Role,
        recipient: String,
        recipient_role: Role,
        subject: Option<String>,
        content: String,
        parent_message_id: Option<Uuid>,
        channel: Channel,
        sent_at: DateTime<Utc>,
    },
    MessageRead {
        message_id: Uuid,
        sender: String,
        recipient: String,
        read_at: DateTime<Utc>,
    },
    MessageDeletedBySender {
        message_id: Uuid,
        sender: String,
        recipient: String,
        deleted_at: DateTime<Utc>,
    },
    MessageDeletedByRecipient {
        message_id: Uuid,
        sender: String,
        recipient: String,
        deleted_at: DateTime<Utc>,
    },
    /// Both sides have deleted: the message is soft-deleted (hidden, kept).
    MessageHidden {
        message_id: Uuid,
        sender: String,
        recipient: String,
        deleted_at: DateTime<Utc>,
    },
    /// An administrator made the message visible to both sides again.
    MessageRestored {
        message_id: Uuid,
        sender: String,
        recipient: String,
        restored_by: String,
        restored_at: DateTime<Utc>,
    },
    /// An administrator erased the message: its data key was destroyed with this event, so its
    /// subject and content are gone from the log's readers. Who, when and why; never what.
    MessageErased {
        message_id: Uuid,
        sender: String,
        recipient: String,
        erased_by: String,
        reason: String,
        erased_at: DateTime<Utc>,
    },
    /// An administrator placed (`held`) or released a legal hold: a held message is exempt
    /// from erasure and retention.
    MessageHoldSet {
        message_id: Uuid,
        sender: String,
        recipient: String,
        held: bool,
        set_by: String,
        reason: String,
        set_at: DateTime<Utc>,
    },
}

impl MessageEvent {
    /// The stable `event_type` name stored in the log.
    pub fn name(&self) -> &'static str {
        match self {
            MessageEvent::MessageSent { .. } => "MessageSent",
            MessageEvent::MessageRead { .. } => "MessageRead",
            MessageEvent::MessageDeletedBySender { .. } => "MessageDeletedBySender",
            MessageEvent::MessageDeletedByRecipient { .. } => "MessageDeletedByRecipient",
            MessageEvent::MessageHidden { .. } => "MessageHidden",
            MessageEvent::MessageRestored { .. } => "MessageRestored",
            MessageEvent::MessageErased { .. } => "MessageErased",
            MessageEvent::MessageHoldSet { .. } => "MessageHoldSet",
        }
    }

    /// The message's sender and recipient (every event names both).
    pub fn participants(&self) -> (&str, &str) {
        match self {
            MessageEvent::MessageSent {
                sender, recipient, ..
            }
            | MessageEvent::MessageRead {
                sender, recipient, ..
            }
            | MessageEvent::MessageDeletedBySender {
                sender, recipient, ..
            }
            | MessageEvent::MessageDeletedByRecipient {
                sender, recipient, ..
            }
            | MessageEvent::MessageHidden {
                sender, recipient, ..
            }
            | MessageEvent::MessageRestored {
                sender, recipient, ..
            }
            | MessageEvent::MessageErased {
                sender, recipient, ..
            }
            | MessageEvent::MessageHoldSet {
                sender, recipient, ..
            } => (sender, recipient),
        }
    }

    /// The message this event belongs to.
    pub fn message_id(&self) -> Uuid {
        match self {
            MessageEvent::MessageSent { message_id, .. }
            | MessageEvent::MessageRead { message_id, .. }
            | MessageEvent::MessageDeletedBySender { message_id, .. }
            | MessageEvent::MessageDeletedByRecipient { message_id, .. }
            | MessageEvent::MessageHidden { message_id, .. }
            | MessageEvent::MessageRestored { message_id, .. }
            | MessageEvent::MessageErased { message_id, .. }
            | MessageEvent::MessageHoldSet { message_id, .. } => *message_id,
        }
    }
}

impl DomainEvent for MessageEvent {
    fn event_type(&self) -> String {
        self.name().to_owned()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION.to_owned()
    }
}
