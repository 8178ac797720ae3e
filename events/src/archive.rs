//! Archiving a conversation: one `conversation_archive` stream per (owner, counterpart), keyed
//! `owner/counterpart`. Archiving hides the conversation from its owner's inbox (kept and
//! searchable); the mailbox projection brings it back when the counterpart writes again, so the
//! stream holds only what the owner asked, every time they asked it.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::directory::{Directory, MessagingServices};
use crate::error::MessageError;
use crate::event::EVENT_VERSION;
use crate::limits::check_username;

/// The aggregate type of archive requests in the event log.
pub const ARCHIVE_AGGREGATE_TYPE: &str = "conversation_archive";

/// The stream of `owner`'s conversation with `counterpart`.
pub fn archive_stream(owner: &str, counterpart: &str) -> String {
    format!("{owner}/{counterpart}")
}

/// Archive or unarchive one's conversation with `counterpart`.
#[derive(Debug, Clone)]
pub struct ArchiveCommand {
    pub owner: String,
    pub counterpart: String,
    pub archive: bool,
    pub at: DateTime<Utc>,
}

/// What the owner asked of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ArchiveEvent {
    ConversationArchived {
        owner: String,
        counterpart: String,
        archived_at: DateTime<Utc>,
    },
    ConversationUnarchived {
        owner: String,
        counterpart: String,
        unarchived_at: DateTime<Utc>,
    },
}

impl ArchiveEvent {
    /// The stable `event_type` name stored in the log.
    pub fn name(&self) -> &'static str {
        match self {
            ArchiveEvent::ConversationArchived { .. } => "ConversationArchived",
            ArchiveEvent::ConversationUnarchived { .. } => "ConversationUnarchived",
        }
    }
}

impl DomainEvent for ArchiveEvent {
    fn event_type(&self) -> String {
        self.name().to_owned()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION.to_owned()
    }
}

/// The requests about one conversation. No state is needed to decide: whether it is archived
/// now also depends on the messages (a new one from the counterpart unarchives it).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationArchive;

impl Aggregate for ConversationArchive {
    const TYPE: &'static str = ARCHIVE_AGGREGATE_TYPE;
    type Command = ArchiveCommand;
    type Event = ArchiveEvent;
    type Error = MessageError;
    type Services = MessagingServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in decide(command, services.as_ref()).await? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, _event: Self::Event) {}
}

/// The event of `command`: the counterpart must be a valid, existing other user.
pub async fn decide(
    command: ArchiveCommand,
    directory: &dyn Directory,
) -> Result<Vec<ArchiveEvent>, MessageError> {
    check_username(&command.counterpart)?;
    if command.owner == command.counterpart {
        return Err(MessageError::SelfMessage);
    }
    if directory.find_user(&command.counterpart).await?.is_none() {
        return Err(MessageError::UnknownUser(command.counterpart));
    }
    let ArchiveCommand {
        owner,
        counterpart,
        archive,
        at,
    } = command;
    Ok(vec![if archive {
        ArchiveEvent::ConversationArchived {
            owner,
            counterpart,
            archived_at: at,
        }
    } else {
        ArchiveEvent::ConversationUnarchived {
            owner,
            counterpart,
            unarchived_at: at,
        }
    }])
}
