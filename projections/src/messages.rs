//! The `messages` projection: the original system's table, one row per message.
//!
//! Columns are `TIMESTAMP` (UTC) as in the spec; `created_at` is the send time and `updated_at`
//! the time carried by the last event, so that a rebuild yields identical rows.

use events::MessageEvent;
use sqlx::PgConnection;

/// Applies one event to `messages`.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    event: &MessageEvent,
) -> Result<(), sqlx::Error> {
    use MessageEvent::*;
    let (sql, at) = match event {
        MessageSent {
            message_id,
            sender,
            recipient,
            subject,
            content,
            parent_message_id,
            sent_at,
            ..
        } => {
            sqlx::query(
                "INSERT INTO messages (id, sender_username, recipient_username, subject, content,
                     parent_message_id, is_read, read_at, sent_at, is_deleted_by_sender,
                     is_deleted_by_recipient, deleted_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, false, NULL, $7, false, false, NULL, $7, $7)",
            )
            .bind(message_id)
            .bind(sender)
            .bind(recipient)
            .bind(subject)
            .bind(content)
            .bind(parent_message_id)
            .bind(sent_at.naive_utc())
            .execute(&mut *conn)
            .await?;
            return Ok(());
        }
        MessageRead { read_at, .. } => (
            "UPDATE messages SET is_read = true, read_at = coalesce(read_at, $2), updated_at = $2
             WHERE id = $1",
            read_at,
        ),
        MessageDeletedBySender { deleted_at, .. } => (
            "UPDATE messages SET is_deleted_by_sender = true, updated_at = $2 WHERE id = $1",
            deleted_at,
        ),
        MessageDeletedByRecipient { deleted_at, .. } => (
            "UPDATE messages SET is_deleted_by_recipient = true, updated_at = $2 WHERE id = $1",
            deleted_at,
        ),
        MessageHidden { deleted_at, .. } => (
            "UPDATE messages SET deleted_at = $2, updated_at = $2 WHERE id = $1",
            deleted_at,
        ),
        MessageRestored { restored_at, .. } => (
            "UPDATE messages SET is_deleted_by_sender = false, is_deleted_by_recipient = false,
                 deleted_at = NULL, updated_at = $2
             WHERE id = $1",
            restored_at,
        ),
    };
    let done = sqlx::query(sql)
        .bind(event.message_id())
        .bind(at.naive_utc())
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        tracing::warn!(message_id = %event.message_id(), event = event.name(),
            "event for a message that `messages` does not hold");
    }
    Ok(())
}
