//! Blocking: one `block` stream per (blocker, blocked) pair, keyed `blocker/blocked`, so the
//! policy asks the log itself whether either of two people blocked the other (two primary-key
//! probes), and a block or an unblock is one short stream's concern.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::directory::{Directory, MessagingServices, Role};
use crate::error::MessageError;
use crate::event::EVENT_VERSION;
use crate::limits::check_username;

/// The aggregate type of blocks in the event log.
pub const BLOCK_AGGREGATE_TYPE: &str = "block";

/// The stream of `blocker`'s block of `blocked`.
pub fn block_stream(blocker: &str, blocked: &str) -> String {
    format!("{blocker}/{blocked}")
}

/// Block or unblock a user.
#[derive(Debug, Clone)]
pub enum BlockCommand {
    Block {
        blocker: String,
        blocked: String,
        at: DateTime<Utc>,
    },
    Unblock {
        blocker: String,
        blocked: String,
        at: DateTime<Utc>,
    },
}

/// What happened between a blocker and a blocked user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BlockEvent {
    UserBlocked {
        blocker: String,
        blocked: String,
        blocked_at: DateTime<Utc>,
    },
    UserUnblocked {
        blocker: String,
        blocked: String,
        unblocked_at: DateTime<Utc>,
    },
}

impl BlockEvent {
    /// The stable `event_type` name stored in the log.
    pub fn name(&self) -> &'static str {
        match self {
            BlockEvent::UserBlocked { .. } => "UserBlocked",
            BlockEvent::UserUnblocked { .. } => "UserUnblocked",
        }
    }
}

impl DomainEvent for BlockEvent {
    fn event_type(&self) -> String {
        self.name().to_owned()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION.to_owned()
    }
}

/// Whether the blocker blocks the blocked user now.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Block {
    pub blocked: bool,
}

impl Aggregate for Block {
    const TYPE: &'static str = BLOCK_AGGREGATE_TYPE;
    type Command = BlockCommand;
    type Event = BlockEvent;
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
        self.blocked = matches!(event, BlockEvent::UserBlocked { .. });
    }
}

impl Block {
    /// The events of `command`: none when it changes nothing (a repeat).
    pub async fn decide(
        &self,
        command: BlockCommand,
        directory: &dyn Directory,
    ) -> Result<Vec<BlockEvent>, MessageError> {
        match command {
            BlockCommand::Block {
                blocker,
                blocked,
                at,
            } => {
                let (me, other) = pair(directory, &blocker, &blocked).await?;
                if !matches!(me.role, Role::Patient | Role::Clinician) {
                    return Err(MessageError::CannotBlock);
                }
                // The care team: no block across an approval, in either direction.
                let linked = match (me.role, other.role) {
                    (Role::Clinician, Role::Patient) => {
                        directory.is_assigned(&me.username, &other.username).await?
                    }
                    (Role::Patient, Role::Clinician) => {
                        directory.is_assigned(&other.username, &me.username).await?
                    }
                    _ => false,
                };
                if linked {
                    return Err(MessageError::CareTeamBlock);
                }
                if self.blocked {
                    return Ok(vec![]);
                }
                Ok(vec![BlockEvent::UserBlocked {
                    blocker,
                    blocked,
                    blocked_at: at,
                }])
            }
            BlockCommand::Unblock {
                blocker,
                blocked,
                at,
            } => {
                pair(directory, &blocker, &blocked).await?;
                if !self.blocked {
                    return Ok(vec![]);
                }
                Ok(vec![BlockEvent::UserUnblocked {
                    blocker,
                    blocked,
                    unblocked_at: at,
                }])
            }
        }
    }
}

/// Both users, checked: a valid other name (400), not oneself (400), existing (404).
async fn pair(
    directory: &dyn Directory,
    me: &str,
    other: &str,
) -> Result<(crate::UserInfo, crate::UserInfo), MessageError> {
    check_username(other)?;
    if me == other {
        return Err(MessageError::SelfBlock);
    }
    let find = |name: &str| {
        let name = name.to_owned();
        async move {
            directory
                .find_user(&name)
                .await?
                .ok_or(MessageError::UnknownUser(name))
        }
    };
    Ok((find(me).await?, find(other).await?))
}
