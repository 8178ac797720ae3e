//! A message written now to be sent later: one `scheduled_message` stream per scheduled id.
//!
//! The scheduler delivers it by appending, in one statement, the ordinary message's
//! `MessageSent` (its id derived from the scheduled id, [`delivered_message_id`]) and this
//! stream's [`ScheduledEvent::ScheduledMessageDelivered`]; both streams' optimistic concurrency
//! lets exactly one delivery in, whoever races.

use chrono::{DateTime, Duration, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::directory::{Directory, MessagingServices, Role};
use crate::error::MessageError;
use crate::event::EVENT_VERSION;
use crate::limits::{check_content, check_username, clean_subject};
use crate::policy::check_policy;

/// The aggregate type of scheduled messages in the event log.
pub const SCHEDULED_AGGREGATE_TYPE: &str = "scheduled_message";

/// Namespace of the ids of delivered scheduled messages.
const DELIVERED_NAMESPACE: Uuid = Uuid::from_u128(0x2b8e_41d7_93c5_4f0a_8d61_7e2c_05b9_a4f3);

/// The id of the message that delivers `scheduled_id`: the same for every scheduler, every
/// retry and every restart, so the log holds at most one.
pub fn delivered_message_id(scheduled_id: Uuid) -> Uuid {
    Uuid::new_v5(&DELIVERED_NAMESPACE, scheduled_id.as_bytes())
}

/// The earliest `send_at`, from now.
pub fn min_lead() -> Duration {
    Duration::minutes(1)
}

/// The latest `send_at`, from now.
pub fn max_lead() -> Duration {
    Duration::days(365)
}

/// Where a scheduled message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduledStatus {
    Pending,
    Sent,
    Cancelled,
    Failed,
}

impl ScheduledStatus {
    /// The status as the API and the read table spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduledStatus::Pending => "pending",
            ScheduledStatus::Sent => "sent",
            ScheduledStatus::Cancelled => "cancelled",
            ScheduledStatus::Failed => "failed",
        }
    }
}

/// What an author, or the scheduler, asks of a scheduled message.
#[derive(Debug, Clone)]
pub enum ScheduledCommand {
    Schedule {
        scheduled_id: Uuid,
        author: String,
        recipient: String,
        subject: Option<String>,
        content: String,
        send_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// `None` keeps a field; `subject: Some(None)` clears the subject.
    Change {
        author: String,
        send_at: Option<DateTime<Utc>>,
        subject: Option<Option<String>>,
        content: Option<String>,
        at: DateTime<Utc>,
    },
    Cancel {
        author: String,
        at: DateTime<Utc>,
    },
    /// The scheduler sent it as `message_id`.
    MarkDelivered {
        message_id: Uuid,
        at: DateTime<Utc>,
    },
    /// The scheduler could not send it: the policy (or the recipient's existence) refused.
    MarkFailed {
        reason: String,
        at: DateTime<Utc>,
    },
}

impl ScheduledCommand {
    /// A stable name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            ScheduledCommand::Schedule { .. } => "schedule",
            ScheduledCommand::Change { .. } => "scheduled_change",
            ScheduledCommand::Cancel { .. } => "scheduled_cancel",
            ScheduledCommand::MarkDelivered { .. } => "scheduled_deliver",
            ScheduledCommand::MarkFailed { .. } => "scheduled_fail",
        }
    }
}

/// What happened to a scheduled message. Every event names the author and the recipient; a
/// change carries the whole resulting text and time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ScheduledEvent {
    MessageScheduled {
        scheduled_id: Uuid,
        author: String,
        author_role: Role,
        recipient: String,
        recipient_role: Role,
        subject: Option<String>,
        content: String,
        send_at: DateTime<Utc>,
        scheduled_at: DateTime<Utc>,
    },
    ScheduledMessageChanged {
        scheduled_id: Uuid,
        author: String,
        recipient: String,
        subject: Option<String>,
        content: String,
        send_at: DateTime<Utc>,
        changed_at: DateTime<Utc>,
    },
    ScheduledMessageCancelled {
        scheduled_id: Uuid,
        author: String,
        recipient: String,
        cancelled_at: DateTime<Utc>,
    },
    ScheduledMessageDelivered {
        scheduled_id: Uuid,
        author: String,
        recipient: String,
        message_id: Uuid,
        delivered_at: DateTime<Utc>,
    },
    ScheduledMessageFailed {
        scheduled_id: Uuid,
        author: String,
        recipient: String,
        reason: String,
        failed_at: DateTime<Utc>,
    },
}

impl ScheduledEvent {
    /// The stable `event_type` name stored in the log.
    pub fn name(&self) -> &'static str {
        match self {
            ScheduledEvent::MessageScheduled { .. } => "MessageScheduled",
            ScheduledEvent::ScheduledMessageChanged { .. } => "ScheduledMessageChanged",
            ScheduledEvent::ScheduledMessageCancelled { .. } => "ScheduledMessageCancelled",
            ScheduledEvent::ScheduledMessageDelivered { .. } => "ScheduledMessageDelivered",
            ScheduledEvent::ScheduledMessageFailed { .. } => "ScheduledMessageFailed",
        }
    }

    /// The scheduled message this event belongs to.
    pub fn scheduled_id(&self) -> Uuid {
        match self {
            ScheduledEvent::MessageScheduled { scheduled_id, .. }
            | ScheduledEvent::ScheduledMessageChanged { scheduled_id, .. }
            | ScheduledEvent::ScheduledMessageCancelled { scheduled_id, .. }
            | ScheduledEvent::ScheduledMessageDelivered { scheduled_id, .. }
            | ScheduledEvent::ScheduledMessageFailed { scheduled_id, .. } => *scheduled_id,
        }
    }
}

impl DomainEvent for ScheduledEvent {
    fn event_type(&self) -> String {
        self.name().to_owned()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION.to_owned()
    }
}

/// A scheduled message as its events tell it. Empty (`state == None`) until scheduled.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledMessage {
    pub state: Option<ScheduledState>,
}

/// What the log tells of a scheduled message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledState {
    pub scheduled_id: Uuid,
    pub author: String,
    pub recipient: String,
    pub subject: Option<String>,
    pub content: String,
    pub send_at: DateTime<Utc>,
    pub status: ScheduledStatus,
    pub message_id: Option<Uuid>,
    pub failure: Option<String>,
}

impl Aggregate for ScheduledMessage {
    const TYPE: &'static str = SCHEDULED_AGGREGATE_TYPE;
    type Command = ScheduledCommand;
    type Event = ScheduledEvent;
    type Error = MessageError;
    type Services = MessagingServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command, services.as_ref()).await? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            ScheduledEvent::MessageScheduled {
                scheduled_id,
                author,
                recipient,
                subject,
                content,
                send_at,
                ..
            } => {
                self.state = Some(ScheduledState {
                    scheduled_id,
                    author,
                    recipient,
                    subject,
                    content,
                    send_at,
                    status: ScheduledStatus::Pending,
                    message_id: None,
                    failure: None,
                });
            }
            ScheduledEvent::ScheduledMessageChanged {
                subject,
                content,
                send_at,
                ..
            } => {
                if let Some(state) = &mut self.state {
                    state.subject = subject;
                    state.content = content;
                    state.send_at = send_at;
                }
            }
            ScheduledEvent::ScheduledMessageCancelled { .. } => {
                if let Some(state) = &mut self.state {
                    state.status = ScheduledStatus::Cancelled;
                }
            }
            ScheduledEvent::ScheduledMessageDelivered { message_id, .. } => {
                if let Some(state) = &mut self.state {
                    state.status = ScheduledStatus::Sent;
                    state.message_id = Some(message_id);
                }
            }
            ScheduledEvent::ScheduledMessageFailed { reason, .. } => {
                if let Some(state) = &mut self.state {
                    state.status = ScheduledStatus::Failed;
                    state.failure = Some(reason);
                }
            }
        }
    }
}

/// `send_at` lies between 1 minute and 365 days after `now`.
pub fn check_send_at(send_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), MessageError> {
    if send_at < now + min_lead() || send_at > now + max_lead() {
        return Err(MessageError::SendAtOutOfRange);
    }
    Ok(())
}

impl ScheduledMessage {
    /// The events `command` produces.
    pub async fn decide(
        &self,
        command: ScheduledCommand,
        directory: &dyn Directory,
    ) -> Result<Vec<ScheduledEvent>, MessageError> {
        match command {
            ScheduledCommand::Schedule {
                scheduled_id,
                author,
                recipient,
                subject,
                content,
                send_at,
                at,
            } => {
                if self.state.is_some() {
                    return Err(MessageError::AlreadySent(scheduled_id));
                }
                check_username(&recipient)?;
                let subject = clean_subject(subject)?;
                check_content(&content)?;
                check_send_at(send_at, at)?;
                if author == recipient {
                    return Err(MessageError::SelfMessage);
                }
                let sender = directory
                    .find_user(&author)
                    .await?
                    .ok_or_else(|| MessageError::UnknownUser(author.clone()))?;
                let receiver = directory
                    .find_user(&recipient)
                    .await?
                    .ok_or_else(|| MessageError::UnknownUser(recipient.clone()))?;
                check_policy(directory, &sender, &receiver, false).await?;
                Ok(vec![ScheduledEvent::MessageScheduled {
                    scheduled_id,
                    author,
                    author_role: sender.role,
                    recipient,
                    recipient_role: receiver.role,
                    subject,
                    content,
                    send_at,
                    scheduled_at: at,
                }])
            }
            ScheduledCommand::Change {
                author,
                send_at,
                subject,
                content,
                at,
            } => {
                let state = self.pending_of(&author)?;
                let subject = match subject {
                    Some(subject) => clean_subject(subject)?,
                    None => state.subject.clone(),
                };
                let content = match content {
                    Some(content) => {
                        check_content(&content)?;
                        content
                    }
                    None => state.content.clone(),
                };
                let send_at = match send_at {
                    Some(send_at) => {
                        check_send_at(send_at, at)?;
                        send_at
                    }
                    None => state.send_at,
                };
                Ok(vec![ScheduledEvent::ScheduledMessageChanged {
                    scheduled_id: state.scheduled_id,
                    author: state.author.clone(),
                    recipient: state.recipient.clone(),
                    subject,
                    content,
                    send_at,
                    changed_at: at,
                }])
            }
            ScheduledCommand::Cancel { author, at } => {
                let state = self.pending_of(&author)?;
                Ok(vec![ScheduledEvent::ScheduledMessageCancelled {
                    scheduled_id: state.scheduled_id,
                    author: state.author.clone(),
                    recipient: state.recipient.clone(),
                    cancelled_at: at,
                }])
            }
            ScheduledCommand::MarkDelivered { message_id, at } => {
                let state = self.pending()?;
                Ok(vec![ScheduledEvent::ScheduledMessageDelivered {
                    scheduled_id: state.scheduled_id,
                    author: state.author.clone(),
                    recipient: state.recipient.clone(),
                    message_id,
                    delivered_at: at,
                }])
            }
            ScheduledCommand::MarkFailed { reason, at } => {
                let state = self.pending()?;
                Ok(vec![ScheduledEvent::ScheduledMessageFailed {
                    scheduled_id: state.scheduled_id,
                    author: state.author.clone(),
                    recipient: state.recipient.clone(),
                    reason,
                    failed_at: at,
                }])
            }
        }
    }

    /// The message while it waits to be sent.
    fn pending(&self) -> Result<&ScheduledState, MessageError> {
        let state = self.state.as_ref().ok_or(MessageError::UnknownScheduled)?;
        if state.status != ScheduledStatus::Pending {
            return Err(MessageError::NotPending(state.status.as_str()));
        }
        Ok(state)
    }

    /// The message of `author` while it waits; someone else's is unknown to them.
    fn pending_of(&self, author: &str) -> Result<&ScheduledState, MessageError> {
        match &self.state {
            Some(state) if state.author == author => self.pending(),
            _ => Err(MessageError::UnknownScheduled),
        }
    }
}
