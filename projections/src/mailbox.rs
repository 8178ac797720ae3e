//! The `mailbox` projection: one row per message per participant, plus the conversation
//! summaries and unread counters that must always agree with those rows.
//!
//! A received row counts as unread while `read_at IS NULL AND NOT deleted`; every change of
//! either column adjusts `conversations.unread_count` and `unread_counters` by exactly one, and
//! every change of visibility refreshes the conversation's last visible message.

mod summaries;

use chrono::{DateTime, Utc};
use events::MessageEvent;
use sqlx::PgConnection;
use uuid::Uuid;

use summaries::{add_unread, merge_conversation, message_hidden, message_shown};

/// Applies one event to `mailbox`, `conversations` and `unread_counters`.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    event: &MessageEvent,
) -> Result<(), sqlx::Error> {
    use MessageEvent::*;
    match event {
        MessageSent { .. } => on_sent(conn, event).await?,
        MessageRead {
            message_id,
            sender,
            recipient,
            read_at,
        } => mark_read(conn, *message_id, sender, recipient, *read_at).await?,
        MessageDeletedBySender {
            message_id,
            sender,
            recipient,
            ..
        } => hide(conn, sender, recipient, *message_id).await?,
        MessageDeletedByRecipient {
            message_id,
            sender,
            recipient,
            ..
        } => hide(conn, recipient, sender, *message_id).await?,
        MessageHidden {
            message_id,
            sender,
            recipient,
            ..
        } => {
            hide(conn, sender, recipient, *message_id).await?;
            hide(conn, recipient, sender, *message_id).await?;
        }
        MessageRestored {
            message_id,
            sender,
            recipient,
            ..
        } => {
            show(conn, sender, recipient, *message_id).await?;
            show(conn, recipient, sender, *message_id).await?;
        }
    }
    Ok(())
}

/// A new message, in one statement (the most frequent event): the sender's and the
/// recipient's rows, both conversation summaries, and the recipient's unread counter.
async fn on_sent(conn: &mut PgConnection, event: &MessageEvent) -> Result<(), sqlx::Error> {
    let MessageEvent::MessageSent {
        message_id,
        sender,
        recipient,
        subject,
        content,
        parent_message_id,
        sent_at,
        ..
    } = event
    else {
        return Ok(());
    };
    sqlx::query(concat!(
        "WITH rows AS (
             INSERT INTO mailbox (owner, message_id, counterpart, direction, subject, content,
                 parent_message_id, sent_at, read_at, deleted, search)
             SELECT side.owner, $1, side.counterpart, side.direction, $4, $5, $6, $7, NULL,
                    false,
                    setweight(to_tsvector('english', coalesce($4, '')), 'A')
                    || setweight(to_tsvector('english', $5), 'B')
             FROM (VALUES ($2, $3, 'sent'), ($3, $2, 'received'))
                 AS side (owner, counterpart, direction)
         ),
         counter AS (
             INSERT INTO unread_counters AS u (owner, unread) VALUES ($3, 1)
             ON CONFLICT (owner) DO UPDATE SET unread = u.unread + 1
         )
         INSERT INTO conversations AS c
             (owner, counterpart, last_message_id, last_activity_at, unread_count)
         VALUES ($2, $3, $1, $7, 0), ($3, $2, $1, $7, 1)",
        merge_conversation!()
    ))
    .bind(message_id)
    .bind(sender)
    .bind(recipient)
    .bind(subject)
    .bind(content)
    .bind(parent_message_id)
    .bind(sent_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn mark_read(
    conn: &mut PgConnection,
    message_id: Uuid,
    sender: &str,
    recipient: &str,
    read_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    // Both rows carry the read time; only the recipient's, if visible, was counted as unread.
    let changed: Vec<(String, bool)> = sqlx::query_as(
        "UPDATE mailbox SET read_at = $2
         WHERE owner IN ($3, $4) AND message_id = $1 AND read_at IS NULL
         RETURNING owner, deleted",
    )
    .bind(message_id)
    .bind(read_at)
    .bind(sender)
    .bind(recipient)
    .fetch_all(&mut *conn)
    .await?;
    let was_counted = changed
        .iter()
        .any(|(owner, deleted)| owner == recipient && !deleted);
    if was_counted {
        summaries::add_conversation_unread(conn, recipient, sender, -1).await?;
        add_unread(conn, recipient, -1).await?;
    }
    Ok(())
}

/// The owner's side of a message becomes invisible (their delete, or hidden).
async fn hide(
    conn: &mut PgConnection,
    owner: &str,
    counterpart: &str,
    message_id: Uuid,
) -> Result<(), sqlx::Error> {
    let changed: Option<(bool,)> = sqlx::query_as(
        "UPDATE mailbox SET deleted = true
         WHERE owner = $1 AND message_id = $2 AND NOT deleted
         RETURNING direction = 'received' AND read_at IS NULL",
    )
    .bind(owner)
    .bind(message_id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some((was_unread,)) = changed {
        let delta = if was_unread { -1 } else { 0 };
        message_hidden(conn, owner, counterpart, message_id, delta).await?;
        if was_unread {
            add_unread(conn, owner, -1).await?;
        }
    }
    Ok(())
}

/// The owner's side of a message becomes visible again (an administrator's restore).
async fn show(
    conn: &mut PgConnection,
    owner: &str,
    counterpart: &str,
    message_id: Uuid,
) -> Result<(), sqlx::Error> {
    let changed: Option<(bool, DateTime<Utc>)> = sqlx::query_as(
        "UPDATE mailbox SET deleted = false
         WHERE owner = $1 AND message_id = $2 AND deleted
         RETURNING direction = 'received' AND read_at IS NULL, sent_at",
    )
    .bind(owner)
    .bind(message_id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some((is_unread, sent_at)) = changed {
        let delta = i32::from(is_unread);
        message_shown(conn, owner, counterpart, message_id, sent_at, delta).await?;
        if is_unread {
            add_unread(conn, owner, 1).await?;
        }
    }
    Ok(())
}
