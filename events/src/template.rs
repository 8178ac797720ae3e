//! A clinician's templates: one stream per clinician (`template_book`, keyed by username), so
//! the cap of [`MAX_TEMPLATES`] holds under concurrency through the stream's optimistic
//! concurrency, as a message's rules do.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::directory::{MessagingServices, Role};
use crate::error::MessageError;
use crate::event::EVENT_VERSION;
use crate::limits::{check_content, check_text, clean_subject, TextKind};

/// The aggregate type of a clinician's templates in the event log.
pub const TEMPLATE_AGGREGATE_TYPE: &str = "template_book";
/// Templates a clinician may keep at once.
pub const MAX_TEMPLATES: usize = 200;
/// Longest template title, in characters.
pub const MAX_TITLE_CHARS: usize = 100;

/// The text of a template, checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateText {
    pub title: String,
    pub subject: Option<String>,
    pub content: String,
}

impl TemplateText {
    /// Checks `title` (one line of 1 to 100 characters), `subject` and `content` as for
    /// messages; the title and subject are trimmed.
    pub fn new(
        title: String,
        subject: Option<String>,
        content: String,
    ) -> Result<Self, MessageError> {
        check_text(&title, TextKind::Line, MAX_TITLE_CHARS)
            .map_err(|_| MessageError::InvalidTitle)?;
        let subject = clean_subject(subject)?;
        check_content(&content)?;
        Ok(Self {
            title: title.trim().to_owned(),
            subject,
            content,
        })
    }
}

/// What a clinician asks of their templates.
#[derive(Debug, Clone)]
pub enum TemplateCommand {
    Create {
        template_id: Uuid,
        owner: String,
        owner_role: Role,
        text: TemplateText,
        at: DateTime<Utc>,
    },
    Change {
        template_id: Uuid,
        owner: String,
        text: TemplateText,
        at: DateTime<Utc>,
    },
    Delete {
        template_id: Uuid,
        owner: String,
        at: DateTime<Utc>,
    },
}

impl TemplateCommand {
    /// A stable name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            TemplateCommand::Create { .. } => "template_create",
            TemplateCommand::Change { .. } => "template_change",
            TemplateCommand::Delete { .. } => "template_delete",
        }
    }
}

/// What happened to a template. Each event carries the owner, and a change the whole text, so
/// a read model writes a row from one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TemplateEvent {
    TemplateCreated {
        template_id: Uuid,
        owner: String,
        title: String,
        subject: Option<String>,
        content: String,
        created_at: DateTime<Utc>,
    },
    TemplateChanged {
        template_id: Uuid,
        owner: String,
        title: String,
        subject: Option<String>,
        content: String,
        changed_at: DateTime<Utc>,
    },
    TemplateDeleted {
        template_id: Uuid,
        owner: String,
        deleted_at: DateTime<Utc>,
    },
}

impl TemplateEvent {
    /// The stable `event_type` name stored in the log.
    pub fn name(&self) -> &'static str {
        match self {
            TemplateEvent::TemplateCreated { .. } => "TemplateCreated",
            TemplateEvent::TemplateChanged { .. } => "TemplateChanged",
            TemplateEvent::TemplateDeleted { .. } => "TemplateDeleted",
        }
    }

    /// The template this event belongs to.
    pub fn template_id(&self) -> Uuid {
        match self {
            TemplateEvent::TemplateCreated { template_id, .. }
            | TemplateEvent::TemplateChanged { template_id, .. }
            | TemplateEvent::TemplateDeleted { template_id, .. } => *template_id,
        }
    }
}

impl DomainEvent for TemplateEvent {
    fn event_type(&self) -> String {
        self.name().to_owned()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION.to_owned()
    }
}

/// A clinician's templates as the log tells them: when each live one last changed.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateBook {
    pub templates: BTreeMap<Uuid, DateTime<Utc>>,
    /// Every id ever used here (a deleted template's id is not reused).
    pub retired: Vec<Uuid>,
}

impl Aggregate for TemplateBook {
    const TYPE: &'static str = TEMPLATE_AGGREGATE_TYPE;
    type Command = TemplateCommand;
    type Event = TemplateEvent;
    type Error = MessageError;
    type Services = MessagingServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            TemplateEvent::TemplateCreated {
                template_id,
                created_at: at,
                ..
            }
            | TemplateEvent::TemplateChanged {
                template_id,
                changed_at: at,
                ..
            } => {
                self.templates.insert(template_id, at);
            }
            TemplateEvent::TemplateDeleted { template_id, .. } => {
                self.templates.remove(&template_id);
                self.retired.push(template_id);
            }
        }
    }
}

impl TemplateBook {
    /// The events `command` produces.
    pub fn decide(&self, command: TemplateCommand) -> Result<Vec<TemplateEvent>, MessageError> {
        match command {
            TemplateCommand::Create {
                template_id,
                owner,
                owner_role,
                text,
                at,
            } => {
                if owner_role != Role::Clinician {
                    return Err(MessageError::ClinicianOnly);
                }
                if self.templates.contains_key(&template_id) || self.retired.contains(&template_id)
                {
                    return Err(MessageError::AlreadySent(template_id));
                }
                if self.templates.len() >= MAX_TEMPLATES {
                    return Err(MessageError::TooManyTemplates(MAX_TEMPLATES));
                }
                Ok(vec![TemplateEvent::TemplateCreated {
                    template_id,
                    owner,
                    title: text.title,
                    subject: text.subject,
                    content: text.content,
                    created_at: at,
                }])
            }
            TemplateCommand::Change {
                template_id,
                owner,
                text,
                at,
            } => {
                self.existing(template_id)?;
                Ok(vec![TemplateEvent::TemplateChanged {
                    template_id,
                    owner,
                    title: text.title,
                    subject: text.subject,
                    content: text.content,
                    changed_at: at,
                }])
            }
            TemplateCommand::Delete {
                template_id,
                owner,
                at,
            } => {
                self.existing(template_id)?;
                Ok(vec![TemplateEvent::TemplateDeleted {
                    template_id,
                    owner,
                    deleted_at: at,
                }])
            }
        }
    }

    fn existing(&self, template_id: Uuid) -> Result<(), MessageError> {
        if self.templates.contains_key(&template_id) {
            Ok(())
        } else {
            Err(MessageError::UnknownTemplate(template_id))
        }
    }
}
