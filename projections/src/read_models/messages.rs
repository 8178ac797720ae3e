//! The `messages` projection: the original system's table, one row per message.
//!
//! Columns are `TIMESTAMP` (UTC) as in the spec; `created_at` is the send time and `updated_at`
//! the time carried by the last event, so that a rebuild yields identical rows.
//!
//! A batch is folded per message first: a message sent in the batch becomes one complete row
//! (one `INSERT` for all of them), every other message one patch of the columns its events set
//! (one `UPDATE … FROM unnest(…)` for all of them).

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use events::MessageEvent;
use sqlx::PgConnection;
use uuid::Uuid;

/// A message sent in this batch, with every later event of the batch folded in.
struct NewRow {
    id: Uuid,
    sender: String,
    recipient: String,
    subject: Option<String>,
    content: String,
    parent: Option<Uuid>,
    is_read: bool,
    read_at: Option<NaiveDateTime>,
    sent_at: NaiveDateTime,
    deleted_by_sender: bool,
    deleted_by_recipient: bool,
    deleted_at: Option<NaiveDateTime>,
    updated_at: NaiveDateTime,
}

/// The net change of this batch to a message sent before it. `None` leaves a column as it is;
/// `read_at` is applied as `coalesce(read_at, patch)` (the first read time wins).
#[derive(Default)]
struct Patch {
    is_read: bool,
    read_at: Option<NaiveDateTime>,
    deleted_by_sender: Option<bool>,
    deleted_by_recipient: Option<bool>,
    deleted_at: Option<Option<NaiveDateTime>>,
    updated_at: Option<NaiveDateTime>,
}

/// One event's change, the same for a new row and for a patch.
enum Change {
    Read(NaiveDateTime),
    DeletedBySender(NaiveDateTime),
    DeletedByRecipient(NaiveDateTime),
    Hidden(NaiveDateTime),
    Restored(NaiveDateTime),
}

impl Change {
    fn of(event: &MessageEvent) -> Option<Change> {
        use MessageEvent::*;
        Some(match event {
            // Erasures and holds are written after the fold (`erasure.rs`).
            MessageSent { .. } | MessageErased { .. } | MessageHoldSet { .. } => return None,
            MessageRead { read_at, .. } => Change::Read(read_at.naive_utc()),
            MessageDeletedBySender { deleted_at, .. } => {
                Change::DeletedBySender(deleted_at.naive_utc())
            }
            MessageDeletedByRecipient { deleted_at, .. } => {
                Change::DeletedByRecipient(deleted_at.naive_utc())
            }
            MessageHidden { deleted_at, .. } => Change::Hidden(deleted_at.naive_utc()),
            MessageRestored { restored_at, .. } => Change::Restored(restored_at.naive_utc()),
        })
    }
}

impl NewRow {
    fn change(&mut self, change: &Change) {
        match *change {
            Change::Read(at) => {
                self.is_read = true;
                self.read_at = self.read_at.or(Some(at));
                self.updated_at = at;
            }
            Change::DeletedBySender(at) => {
                self.deleted_by_sender = true;
                self.updated_at = at;
            }
            Change::DeletedByRecipient(at) => {
                self.deleted_by_recipient = true;
                self.updated_at = at;
            }
            Change::Hidden(at) => {
                self.deleted_at = Some(at);
                self.updated_at = at;
            }
            Change::Restored(at) => {
                self.deleted_by_sender = false;
                self.deleted_by_recipient = false;
                self.deleted_at = None;
                self.updated_at = at;
            }
        }
    }
}

impl Patch {
    fn change(&mut self, change: &Change) {
        match *change {
            Change::Read(at) => {
                self.is_read = true;
                self.read_at = self.read_at.or(Some(at));
                self.updated_at = Some(at);
            }
            Change::DeletedBySender(at) => {
                self.deleted_by_sender = Some(true);
                self.updated_at = Some(at);
            }
            Change::DeletedByRecipient(at) => {
                self.deleted_by_recipient = Some(true);
                self.updated_at = Some(at);
            }
            Change::Hidden(at) => {
                self.deleted_at = Some(Some(at));
                self.updated_at = Some(at);
            }
            Change::Restored(at) => {
                self.deleted_by_sender = Some(false);
                self.deleted_by_recipient = Some(false);
                self.deleted_at = Some(None);
                self.updated_at = Some(at);
            }
        }
    }
}

/// Messages sent in the batch, each with the batch's later events folded in.
pub const INSERT_NEW: &str =
    "INSERT INTO messages (id, sender_username, recipient_username, subject, content,
             parent_message_id, is_read, read_at, sent_at, is_deleted_by_sender,
             is_deleted_by_recipient, deleted_at, created_at, updated_at)
         SELECT id, sender, recipient, subject, content, parent, is_read, read_at, sent_at,
                deleted_by_sender, deleted_by_recipient, deleted_at, sent_at, updated_at
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::uuid[],
                     $7::bool[], $8::timestamp[], $9::timestamp[], $10::bool[], $11::bool[],
                     $12::timestamp[], $13::timestamp[])
             AS r (id, sender, recipient, subject, content, parent, is_read, read_at, sent_at,
                   deleted_by_sender, deleted_by_recipient, deleted_at, updated_at)";

/// Each earlier message's net change (`NULL`: unchanged; `read_at` only fills a missing time).
pub const UPDATE_PATCHES: &str = "UPDATE messages m SET
             is_read = CASE WHEN p.is_read THEN true ELSE m.is_read END,
             read_at = coalesce(m.read_at, p.read_at),
             is_deleted_by_sender = coalesce(p.deleted_by_sender, m.is_deleted_by_sender),
             is_deleted_by_recipient =
                 coalesce(p.deleted_by_recipient, m.is_deleted_by_recipient),
             deleted_at = CASE WHEN p.sets_deleted_at THEN p.deleted_at ELSE m.deleted_at END,
             updated_at = coalesce(p.updated_at, m.updated_at)
         FROM unnest($1::uuid[], $2::bool[], $3::timestamp[], $4::bool[], $5::bool[],
                     $6::bool[], $7::timestamp[], $8::timestamp[])
             AS p (id, is_read, read_at, deleted_by_sender, deleted_by_recipient,
                   sets_deleted_at, deleted_at, updated_at)
         WHERE m.id = p.id
         RETURNING m.id";

/// Applies a batch of events (in commit order) to `messages`.
pub(crate) async fn apply<'a>(
    conn: &mut PgConnection,
    events: impl IntoIterator<Item = &'a MessageEvent>,
) -> Result<(), sqlx::Error> {
    let mut new_rows: Vec<NewRow> = Vec::new();
    let mut new_index: HashMap<Uuid, usize> = HashMap::new();
    let mut patches: Vec<(Uuid, Patch)> = Vec::new();
    let mut patch_index: HashMap<Uuid, usize> = HashMap::new();
    for event in events {
        if let MessageEvent::MessageSent {
            message_id,
            sender,
            recipient,
            subject,
            content,
            parent_message_id,
            sent_at,
            ..
        } = event
        {
            let sent_at = sent_at.naive_utc();
            new_index.insert(*message_id, new_rows.len());
            new_rows.push(NewRow {
                id: *message_id,
                sender: sender.clone(),
                recipient: recipient.clone(),
                subject: subject.clone(),
                content: content.clone(),
                parent: *parent_message_id,
                is_read: false,
                read_at: None,
                sent_at,
                deleted_by_sender: false,
                deleted_by_recipient: false,
                deleted_at: None,
                updated_at: sent_at,
            });
            continue;
        }
        let Some(change) = Change::of(event) else {
            continue;
        };
        let id = event.message_id();
        if let Some(&i) = new_index.get(&id) {
            new_rows[i].change(&change);
        } else {
            let i = *patch_index.entry(id).or_insert_with(|| {
                patches.push((id, Patch::default()));
                patches.len() - 1
            });
            patches[i].1.change(&change);
        }
    }
    insert(conn, &new_rows).await?;
    update(conn, &patches).await
}

async fn insert(conn: &mut PgConnection, rows: &[NewRow]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    // A parent sent in the same batch is inserted by the same statement: the foreign key is
    // checked at the end of the statement.
    sqlx::query(INSERT_NEW)
        .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.sender.as_str()).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| r.recipient.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|r| r.subject.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|r| r.content.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.parent).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.is_read).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.read_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.sent_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.deleted_by_sender).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| r.deleted_by_recipient)
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|r| r.deleted_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.updated_at).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn update(conn: &mut PgConnection, patches: &[(Uuid, Patch)]) -> Result<(), sqlx::Error> {
    if patches.is_empty() {
        return Ok(());
    }
    let updated: Vec<Uuid> = sqlx::query_scalar(UPDATE_PATCHES)
        .bind(patches.iter().map(|(id, _)| *id).collect::<Vec<_>>())
        .bind(patches.iter().map(|(_, p)| p.is_read).collect::<Vec<_>>())
        .bind(patches.iter().map(|(_, p)| p.read_at).collect::<Vec<_>>())
        .bind(
            patches
                .iter()
                .map(|(_, p)| p.deleted_by_sender)
                .collect::<Vec<_>>(),
        )
        .bind(
            patches
                .iter()
                .map(|(_, p)| p.deleted_by_recipient)
                .collect::<Vec<_>>(),
        )
        .bind(
            patches
                .iter()
                .map(|(_, p)| p.deleted_at.is_some())
                .collect::<Vec<_>>(),
        )
        .bind(
            patches
                .iter()
                .map(|(_, p)| p.deleted_at.flatten())
                .collect::<Vec<_>>(),
        )
        .bind(
            patches
                .iter()
                .map(|(_, p)| p.updated_at)
                .collect::<Vec<_>>(),
        )
        .fetch_all(&mut *conn)
        .await?;
    if updated.len() < patches.len() {
        let updated: HashSet<Uuid> = updated.into_iter().collect();
        for (id, _) in patches.iter().filter(|(id, _)| !updated.contains(id)) {
            tracing::warn!(message_id = %id, "event for a message that `messages` does not hold");
        }
    }
    Ok(())
}
