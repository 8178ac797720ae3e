//! The `Message` aggregate: decides which events a command produces, and folds events into state.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::commands::{MessageCommand, ParentMessage, ReplyToMessage, SendMessage};
use crate::directory::{Directory, MessagingServices, Role, UserInfo};
use crate::error::MessageError;
use crate::event::{Channel, MessageEvent};
use crate::limits::{check_content, check_username, clean_subject};
use crate::policy::{check_policy, reply_subject};
use crate::AGGREGATE_TYPE;

/// One message. Empty (`state == None`) until its `MessageSent`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub state: Option<MessageState>,
}

/// What the log tells of a sent message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageState {
    pub message_id: Uuid,
    pub sender: String,
    pub recipient: String,
    pub subject: Option<String>,
    pub parent_message_id: Option<Uuid>,
    pub sent_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
    pub deleted_by_sender: bool,
    pub deleted_by_recipient: bool,
    pub hidden_at: Option<DateTime<Utc>>,
    /// When an administrator erased it (its text is gone).
    #[serde(default)]
    pub erased_at: Option<DateTime<Utc>>,
    /// Whether a legal hold exempts it from erasure and retention.
    #[serde(default)]
    pub held: bool,
}

impl MessageState {
    /// Whether `user` deleted their side (a hidden message is deleted on both sides).
    pub fn deleted_for(&self, user: &str) -> bool {
        (user == self.sender && self.deleted_by_sender)
            || (user == self.recipient && self.deleted_by_recipient)
    }

    /// The parent view of this message, for a reply to it.
    pub fn as_parent(&self) -> ParentMessage {
        ParentMessage {
            message_id: self.message_id,
            sender: self.sender.clone(),
            recipient: self.recipient.clone(),
            subject: self.subject.clone(),
            deleted_by_sender: self.deleted_by_sender,
            deleted_by_recipient: self.deleted_by_recipient,
        }
    }
}

impl Aggregate for Message {
    const TYPE: &'static str = AGGREGATE_TYPE;
    type Command = MessageCommand;
    type Event = MessageEvent;
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
            MessageEvent::MessageSent {
                message_id,
                sender,
                recipient,
                subject,
                parent_message_id,
                sent_at,
                ..
            } => {
                self.state = Some(MessageState {
                    message_id,
                    sender,
                    recipient,
                    subject,
                    parent_message_id,
                    sent_at,
                    read_at: None,
                    deleted_by_sender: false,
                    deleted_by_recipient: false,
                    hidden_at: None,
                    erased_at: None,
                    held: false,
                });
            }
            MessageEvent::MessageRead { read_at, .. } => {
                if let Some(state) = &mut self.state {
                    state.read_at = Some(read_at);
                }
            }
            MessageEvent::MessageDeletedBySender { .. } => {
                if let Some(state) = &mut self.state {
                    state.deleted_by_sender = true;
                }
            }
            MessageEvent::MessageDeletedByRecipient { .. } => {
                if let Some(state) = &mut self.state {
                    state.deleted_by_recipient = true;
                }
            }
            MessageEvent::MessageHidden { deleted_at, .. } => {
                if let Some(state) = &mut self.state {
                    state.hidden_at = Some(deleted_at);
                }
            }
            MessageEvent::MessageRestored { .. } => {
                if let Some(state) = &mut self.state {
                    state.deleted_by_sender = false;
                    state.deleted_by_recipient = false;
                    state.hidden_at = None;
                }
            }
            MessageEvent::MessageErased { erased_at, .. } => {
                if let Some(state) = &mut self.state {
                    state.erased_at = Some(erased_at);
                    state.subject = None;
                }
            }
            MessageEvent::MessageHoldSet { held, .. } => {
                if let Some(state) = &mut self.state {
                    state.held = held;
                }
            }
        }
    }
}

impl Message {
    async fn decide(
        &self,
        command: MessageCommand,
        directory: &dyn Directory,
    ) -> Result<Vec<MessageEvent>, MessageError> {
        match command {
            MessageCommand::Send(send) => self.send(send, directory).await,
            MessageCommand::Reply(reply) => self.reply(reply, directory).await,
            MessageCommand::MarkRead {
                message_id,
                reader,
                at,
            } => self.mark_read(message_id, &reader, at),
            MessageCommand::Delete {
                message_id,
                actor,
                at,
            } => self.delete(message_id, &actor, at),
            MessageCommand::Restore {
                message_id,
                actor,
                at,
            } => self.restore(message_id, &actor, at, directory).await,
            MessageCommand::Erase {
                message_id,
                actor,
                reason,
                at,
            } => self.erase(message_id, &actor, reason, at, directory).await,
            MessageCommand::SetHold {
                message_id,
                actor,
                held,
                reason,
                at,
            } => {
                self.set_hold(message_id, &actor, held, reason, at, directory)
                    .await
            }
        }
    }

    fn existing(&self, message_id: Uuid) -> Result<&MessageState, MessageError> {
        self.state
            .as_ref()
            .ok_or(MessageError::UnknownMessage(message_id))
    }

    async fn send(
        &self,
        cmd: SendMessage,
        directory: &dyn Directory,
    ) -> Result<Vec<MessageEvent>, MessageError> {
        if self.state.is_some() {
            return Err(MessageError::AlreadySent(cmd.message_id));
        }
        check_username(&cmd.recipient)?;
        let subject = clean_subject(cmd.subject)?;
        check_content(&cmd.content)?;
        if cmd.sender == cmd.recipient {
            return Err(MessageError::SelfMessage);
        }
        let (sender, recipient) = participants(directory, &cmd.sender, &cmd.recipient).await?;
        if matches!(cmd.channel, Channel::Clinician | Channel::Broadcast)
            && sender.role != Role::Clinician
        {
            return Err(MessageError::NotAClinician);
        }
        check_policy(directory, &sender, &recipient, false).await?;
        Ok(vec![MessageEvent::MessageSent {
            message_id: cmd.message_id,
            sender: sender.username,
            sender_role: sender.role,
            recipient: recipient.username,
            recipient_role: recipient.role,
            subject,
            content: cmd.content,
            parent_message_id: None,
            channel: cmd.channel,
            sent_at: cmd.sent_at,
        }])
    }

    async fn reply(
        &self,
        cmd: ReplyToMessage,
        directory: &dyn Directory,
    ) -> Result<Vec<MessageEvent>, MessageError> {
        if self.state.is_some() {
            return Err(MessageError::AlreadySent(cmd.message_id));
        }
        let subject = clean_subject(cmd.subject)?;
        check_content(&cmd.content)?;
        let parent = cmd
            .parent
            .ok_or(MessageError::UnknownMessage(cmd.parent_message_id))?;
        let counterpart = if cmd.sender == parent.sender {
            parent.recipient.clone()
        } else if cmd.sender == parent.recipient {
            parent.sender.clone()
        } else {
            return Err(MessageError::NotAParticipant);
        };
        let deleted_by_replier = if cmd.sender == parent.sender {
            parent.deleted_by_sender
        } else {
            parent.deleted_by_recipient
        };
        if deleted_by_replier {
            // The replier deleted the parent: for them it no longer exists.
            return Err(MessageError::UnknownMessage(parent.message_id));
        }
        let (sender, recipient) = participants(directory, &cmd.sender, &counterpart).await?;
        check_policy(directory, &sender, &recipient, true).await?;
        Ok(vec![MessageEvent::MessageSent {
            message_id: cmd.message_id,
            sender: sender.username,
            sender_role: sender.role,
            recipient: recipient.username,
            recipient_role: recipient.role,
            subject: subject.or_else(|| reply_subject(parent.subject.as_deref())),
            content: cmd.content,
            parent_message_id: Some(parent.message_id),
            channel: Channel::Reply,
            sent_at: cmd.sent_at,
        }])
    }

    fn mark_read(
        &self,
        message_id: Uuid,
        reader: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<MessageEvent>, MessageError> {
        let state = self.existing(message_id)?;
        if reader != state.recipient {
            return Err(if reader == state.sender {
                MessageError::NotTheRecipient
            } else {
                MessageError::NotAParticipant
            });
        }
        if state.deleted_by_recipient {
            return Err(MessageError::UnknownMessage(message_id));
        }
        if state.read_at.is_some() {
            return Ok(vec![]);
        }
        Ok(vec![MessageEvent::MessageRead {
            message_id: state.message_id,
            sender: state.sender.clone(),
            recipient: state.recipient.clone(),
            read_at: at,
        }])
    }

    fn delete(
        &self,
        message_id: Uuid,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<MessageEvent>, MessageError> {
        let state = self.existing(message_id)?;
        let (message_id, sender, recipient) = (
            state.message_id,
            state.sender.clone(),
            state.recipient.clone(),
        );
        let (deleted, other_side_deleted) = if actor == state.sender {
            (state.deleted_by_sender, state.deleted_by_recipient)
        } else if actor == state.recipient {
            (state.deleted_by_recipient, state.deleted_by_sender)
        } else {
            return Err(MessageError::NotAParticipant);
        };
        if deleted {
            return Ok(vec![]);
        }
        let mut events = vec![if actor == sender {
            MessageEvent::MessageDeletedBySender {
                message_id,
                sender: sender.clone(),
                recipient: recipient.clone(),
                deleted_at: at,
            }
        } else {
            MessageEvent::MessageDeletedByRecipient {
                message_id,
                sender: sender.clone(),
                recipient: recipient.clone(),
                deleted_at: at,
            }
        }];
        if other_side_deleted {
            events.push(MessageEvent::MessageHidden {
                message_id,
                sender,
                recipient,
                deleted_at: at,
            });
        }
        Ok(events)
    }

    async fn restore(
        &self,
        message_id: Uuid,
        actor: &str,
        at: DateTime<Utc>,
        directory: &dyn Directory,
    ) -> Result<Vec<MessageEvent>, MessageError> {
        let state = self.existing(message_id)?;
        require_admin(directory, actor).await?;
        if !state.deleted_by_sender && !state.deleted_by_recipient {
            return Err(MessageError::NotDeleted);
        }
        Ok(vec![MessageEvent::MessageRestored {
            message_id: state.message_id,
            sender: state.sender.clone(),
            recipient: state.recipient.clone(),
            restored_by: actor.to_owned(),
            restored_at: at,
        }])
    }
}

impl Message {
    async fn erase(
        &self,
        message_id: Uuid,
        actor: &str,
        reason: String,
        at: DateTime<Utc>,
        directory: &dyn Directory,
    ) -> Result<Vec<MessageEvent>, MessageError> {
        let state = self.existing(message_id)?;
        require_admin(directory, actor).await?;
        let reason = clean_reason(reason)?;
        if state.erased_at.is_some() {
            return Err(MessageError::AlreadyErased);
        }
        if state.held {
            return Err(MessageError::UnderHold);
        }
        Ok(vec![MessageEvent::MessageErased {
            message_id: state.message_id,
            sender: state.sender.clone(),
            recipient: state.recipient.clone(),
            erased_by: actor.to_owned(),
            reason,
            erased_at: at,
        }])
    }

    /// Setting the hold it already has changes nothing (no event) and succeeds.
    async fn set_hold(
        &self,
        message_id: Uuid,
        actor: &str,
        held: bool,
        reason: String,
        at: DateTime<Utc>,
        directory: &dyn Directory,
    ) -> Result<Vec<MessageEvent>, MessageError> {
        let state = self.existing(message_id)?;
        require_admin(directory, actor).await?;
        let reason = clean_reason(reason)?;
        if state.held == held {
            return Ok(vec![]);
        }
        Ok(vec![MessageEvent::MessageHoldSet {
            message_id: state.message_id,
            sender: state.sender.clone(),
            recipient: state.recipient.clone(),
            held,
            set_by: actor.to_owned(),
            reason,
            set_at: at,
        }])
    }
}

async fn require_admin(directory: &dyn Directory, actor: &str) -> Result<(), MessageError> {
    let is_admin = directory
        .find_user(actor)
        .await?
        .is_some_and(|user| user.role == Role::Admin);
    if is_admin {
        Ok(())
    } else {
        Err(MessageError::NotAnAdmin)
    }
}

/// An erasure's or a hold's reason: one line, 1 to 500 characters, a visible one among them.
fn clean_reason(reason: String) -> Result<String, MessageError> {
    let reason = reason.trim().to_owned();
    let length = reason.chars().count();
    if length == 0 || length > 500 || reason.chars().any(char::is_control) {
        return Err(MessageError::InvalidReason);
    }
    Ok(reason)
}

async fn participants(
    directory: &dyn Directory,
    sender: &str,
    recipient: &str,
) -> Result<(UserInfo, UserInfo), MessageError> {
    let sender = directory
        .find_user(sender)
        .await?
        .ok_or_else(|| MessageError::UnknownUser(sender.to_owned()))?;
    let recipient = directory
        .find_user(recipient)
        .await?
        .ok_or_else(|| MessageError::UnknownUser(recipient.to_owned()))?;
    Ok((sender, recipient))
}
