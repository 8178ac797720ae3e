//! The `composer` projection: a clinician's `templates`, everyone's `scheduled_messages` and
//! `blocks`.
//!
//! A batch is folded per row first, in commit order: a template becomes its last text or
//! nothing (deleted); a scheduled message scheduled in the batch becomes one complete row, any
//! other one patch of the columns its events set. Then one statement per kind of write.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use events::{BlockEvent, ScheduledEvent, ScheduledStatus, TemplateEvent};
use read_side::StoredEvent;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::ProjectorError;
use crate::read_models::{write_pair_states, PairStates, PairTable};

/// Who blocks whom now.
const BLOCKS: PairTable = PairTable {
    table: "blocks",
    first: "blocker",
    second: "blocked",
    since: "blocked_at",
};

/// A template as a batch leaves it.
struct Template {
    owner: String,
    title: String,
    subject: Option<String>,
    content: String,
    updated_at: DateTime<Utc>,
}

/// A scheduled message's columns. A row scheduled in the batch has every field; a patch of an
/// older row only those its events set (`None` keeps the column).
#[derive(Default)]
struct Scheduled {
    author: Option<String>,
    recipient: Option<String>,
    /// `Some` when the text changed (the subject may become null).
    text: Option<(Option<String>, String, DateTime<Utc>)>,
    status: Option<ScheduledStatus>,
    message_id: Option<Uuid>,
    failure: Option<String>,
    updated_at: Option<DateTime<Utc>>,
    /// Scheduled in this batch: inserted whole.
    new: bool,
}

impl Scheduled {
    fn apply(&mut self, event: ScheduledEvent) {
        match event {
            ScheduledEvent::MessageScheduled {
                author,
                recipient,
                subject,
                content,
                send_at,
                scheduled_at,
                ..
            } => {
                *self = Scheduled {
                    author: Some(author),
                    recipient: Some(recipient),
                    text: Some((subject, content, send_at)),
                    status: Some(ScheduledStatus::Pending),
                    updated_at: Some(scheduled_at),
                    new: true,
                    ..Scheduled::default()
                };
            }
            ScheduledEvent::ScheduledMessageChanged {
                subject,
                content,
                send_at,
                changed_at,
                ..
            } => {
                self.text = Some((subject, content, send_at));
                self.updated_at = Some(changed_at);
            }
            ScheduledEvent::ScheduledMessageCancelled { cancelled_at, .. } => {
                self.status = Some(ScheduledStatus::Cancelled);
                self.updated_at = Some(cancelled_at);
            }
            ScheduledEvent::ScheduledMessageDelivered {
                message_id,
                delivered_at,
                ..
            } => {
                self.status = Some(ScheduledStatus::Sent);
                self.message_id = Some(message_id);
                self.updated_at = Some(delivered_at);
            }
            ScheduledEvent::ScheduledMessageFailed {
                reason, failed_at, ..
            } => {
                self.status = Some(ScheduledStatus::Failed);
                self.failure = Some(reason);
                self.updated_at = Some(failed_at);
            }
        }
    }
}

/// Applies the template and scheduled-message events of `events` (others are skipped).
pub(crate) async fn apply(
    conn: &mut PgConnection,
    events: &[StoredEvent],
) -> Result<(), ProjectorError> {
    let mut templates: HashMap<Uuid, Option<Template>> = HashMap::new();
    let mut scheduled: HashMap<Uuid, Scheduled> = HashMap::new();
    // Per (blocker, blocked): blocked since, or unblocked (the last event wins).
    let mut blocks = PairStates::new();
    for stored in events {
        if let Some(event) = stored.template_event()? {
            let id = event.template_id();
            let row = match event {
                TemplateEvent::TemplateCreated {
                    owner,
                    title,
                    subject,
                    content,
                    created_at: updated_at,
                    ..
                }
                | TemplateEvent::TemplateChanged {
                    owner,
                    title,
                    subject,
                    content,
                    changed_at: updated_at,
                    ..
                } => Some(Template {
                    owner,
                    title,
                    subject,
                    content,
                    updated_at,
                }),
                TemplateEvent::TemplateDeleted { .. } => None,
            };
            templates.insert(id, row);
        } else if let Some(event) = stored.scheduled_event()? {
            scheduled
                .entry(event.scheduled_id())
                .or_default()
                .apply(event);
        } else if let Some(event) = stored.block_event()? {
            match event {
                BlockEvent::UserBlocked {
                    blocker,
                    blocked,
                    blocked_at,
                } => blocks.insert((blocker, blocked), Some(blocked_at)),
                BlockEvent::UserUnblocked {
                    blocker, blocked, ..
                } => blocks.insert((blocker, blocked), None),
            };
        }
    }
    write_templates(conn, templates).await?;
    write_scheduled(conn, scheduled).await?;
    write_pair_states(conn, &BLOCKS, blocks).await?;
    Ok(())
}

async fn write_templates(
    conn: &mut PgConnection,
    templates: HashMap<Uuid, Option<Template>>,
) -> Result<(), sqlx::Error> {
    let mut deleted = Vec::new();
    let (mut ids, mut owners, mut titles, mut subjects, mut contents, mut times) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for (id, row) in templates {
        match row {
            None => deleted.push(id),
            Some(t) => {
                ids.push(id);
                owners.push(t.owner);
                titles.push(t.title);
                subjects.push(t.subject);
                contents.push(t.content);
                times.push(t.updated_at);
            }
        }
    }
    if !deleted.is_empty() {
        sqlx::query("DELETE FROM templates WHERE template_id = ANY($1)")
            .bind(&deleted)
            .execute(&mut *conn)
            .await?;
    }
    if !ids.is_empty() {
        sqlx::query(
            "INSERT INTO templates (template_id, owner, title, subject, content, updated_at)
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                                  $6::timestamptz[])
             ON CONFLICT (template_id) DO UPDATE
             SET title = excluded.title, subject = excluded.subject,
                 content = excluded.content, updated_at = excluded.updated_at",
        )
        .bind(&ids)
        .bind(&owners)
        .bind(&titles)
        .bind(&subjects)
        .bind(&contents)
        .bind(&times)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The columns of scheduled rows, as arrays for `unnest`.
#[derive(Default)]
struct Columns {
    ids: Vec<Uuid>,
    authors: Vec<Option<String>>,
    recipients: Vec<Option<String>>,
    text_changed: Vec<bool>,
    subjects: Vec<Option<String>>,
    contents: Vec<Option<String>>,
    send_ats: Vec<Option<DateTime<Utc>>>,
    statuses: Vec<Option<&'static str>>,
    message_ids: Vec<Option<Uuid>>,
    failures: Vec<Option<String>>,
    updated_ats: Vec<Option<DateTime<Utc>>>,
}

impl Columns {
    fn push(&mut self, id: Uuid, row: Scheduled) {
        self.ids.push(id);
        self.authors.push(row.author);
        self.recipients.push(row.recipient);
        self.text_changed.push(row.text.is_some());
        let (subject, content, send_at) = match row.text {
            Some((subject, content, send_at)) => (subject, Some(content), Some(send_at)),
            None => (None, None, None),
        };
        self.subjects.push(subject);
        self.contents.push(content);
        self.send_ats.push(send_at);
        self.statuses.push(row.status.map(ScheduledStatus::as_str));
        self.message_ids.push(row.message_id);
        self.failures.push(row.failure);
        self.updated_ats.push(row.updated_at);
    }
}

async fn write_scheduled(
    conn: &mut PgConnection,
    scheduled: HashMap<Uuid, Scheduled>,
) -> Result<(), sqlx::Error> {
    let (mut new, mut patches) = (Columns::default(), Columns::default());
    for (id, row) in scheduled {
        if row.new {
            new.push(id, row);
        } else {
            patches.push(id, row);
        }
    }
    const UNNEST: &str = "unnest($1::uuid[], $2::text[], $3::text[], $4::bool[], $5::text[],
                $6::text[], $7::timestamptz[], $8::text[], $9::uuid[], $10::text[],
                $11::timestamptz[])
         AS p (id, author, recipient, text_changed, subject, content, send_at, status,
               message_id, failure, updated_at)";
    for (columns, statement) in [
        (
            new,
            format!(
                "INSERT INTO scheduled_messages (scheduled_id, author, recipient, subject,
                     content, send_at, status, message_id, failure, updated_at)
                 SELECT id, author, recipient, subject, content, send_at, status, message_id,
                        failure, updated_at
                 FROM {UNNEST}"
            ),
        ),
        (
            patches,
            format!(
                "UPDATE scheduled_messages s
                 SET subject = CASE WHEN p.text_changed THEN p.subject ELSE s.subject END,
                     content = coalesce(p.content, s.content),
                     send_at = coalesce(p.send_at, s.send_at),
                     status = coalesce(p.status, s.status),
                     message_id = coalesce(p.message_id, s.message_id),
                     failure = coalesce(p.failure, s.failure),
                     updated_at = coalesce(p.updated_at, s.updated_at)
                 FROM {UNNEST}
                 WHERE s.scheduled_id = p.id"
            ),
        ),
    ] {
        if columns.ids.is_empty() {
            continue;
        }
        sqlx::query(&statement)
            .bind(columns.ids)
            .bind(columns.authors)
            .bind(columns.recipients)
            .bind(columns.text_changed)
            .bind(columns.subjects)
            .bind(columns.contents)
            .bind(columns.send_ats)
            .bind(columns.statuses)
            .bind(columns.message_ids)
            .bind(columns.failures)
            .bind(columns.updated_ats)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
