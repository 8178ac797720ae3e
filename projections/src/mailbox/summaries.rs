//! Conversation summaries and unread counters, kept in step with the mailbox rows.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// How a visible message updates an existing conversation row (`c`) from the proposed one:
/// unread counts add up, and the newest message by `(sent_at, message_id)` is the last one.
macro_rules! merge_conversation {
    () => {
        " ON CONFLICT (owner, counterpart) DO UPDATE SET
             unread_count = c.unread_count + EXCLUDED.unread_count,
             last_message_id = CASE
                 WHEN (EXCLUDED.last_activity_at, EXCLUDED.last_message_id)
                      > (c.last_activity_at, c.last_message_id)
                 THEN EXCLUDED.last_message_id ELSE c.last_message_id END,
             last_activity_at = greatest(c.last_activity_at, EXCLUDED.last_activity_at)"
    };
}
pub(super) use merge_conversation;

/// A message became visible to `owner`: the conversation exists, its last message is the newest
/// visible one (by `(sent_at, message_id)`, the order of the thread), and `unread_delta` is added.
pub(super) async fn message_shown(
    conn: &mut PgConnection,
    owner: &str,
    counterpart: &str,
    message_id: Uuid,
    sent_at: DateTime<Utc>,
    unread_delta: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(concat!(
        "INSERT INTO conversations AS c
             (owner, counterpart, last_message_id, last_activity_at, unread_count)
         VALUES ($1, $2, $3, $4, $5)",
        merge_conversation!()
    ))
    .bind(owner)
    .bind(counterpart)
    .bind(message_id)
    .bind(sent_at)
    .bind(unread_delta)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A message became invisible to `owner`: `unread_delta` is added and, when it was the last
/// message, the next newest visible one takes its place; with none left the conversation goes.
pub(super) async fn message_hidden(
    conn: &mut PgConnection,
    owner: &str,
    counterpart: &str,
    message_id: Uuid,
    unread_delta: i32,
) -> Result<(), sqlx::Error> {
    let was_last: Option<(bool,)> = sqlx::query_as(
        "UPDATE conversations SET unread_count = unread_count + $3
         WHERE owner = $1 AND counterpart = $2
         RETURNING last_message_id = $4",
    )
    .bind(owner)
    .bind(counterpart)
    .bind(unread_delta)
    .bind(message_id)
    .fetch_optional(&mut *conn)
    .await?;
    if !matches!(was_last, Some((true,))) {
        return Ok(());
    }
    let newest: Option<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT message_id, sent_at FROM mailbox
         WHERE owner = $1 AND counterpart = $2 AND NOT deleted
         ORDER BY sent_at DESC, message_id DESC
         LIMIT 1",
    )
    .bind(owner)
    .bind(counterpart)
    .fetch_optional(&mut *conn)
    .await?;
    match newest {
        Some((last_id, last_at)) => {
            sqlx::query(
                "UPDATE conversations SET last_message_id = $3, last_activity_at = $4
                 WHERE owner = $1 AND counterpart = $2",
            )
            .bind(owner)
            .bind(counterpart)
            .bind(last_id)
            .bind(last_at)
            .execute(&mut *conn)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM conversations WHERE owner = $1 AND counterpart = $2")
                .bind(owner)
                .bind(counterpart)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// Adds `delta` to the unread count of one conversation.
pub(super) async fn add_conversation_unread(
    conn: &mut PgConnection,
    owner: &str,
    counterpart: &str,
    delta: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE conversations SET unread_count = unread_count + $3
         WHERE owner = $1 AND counterpart = $2",
    )
    .bind(owner)
    .bind(counterpart)
    .bind(delta)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Adds `delta` to `owner`'s unread counter. (A decrement is a plain update: an upsert would
/// check `unread >= 0` on the proposed row before finding the existing one.)
pub(super) async fn add_unread(
    conn: &mut PgConnection,
    owner: &str,
    delta: i32,
) -> Result<(), sqlx::Error> {
    let sql = if delta < 0 {
        "UPDATE unread_counters SET unread = unread + $2 WHERE owner = $1"
    } else {
        "INSERT INTO unread_counters AS u (owner, unread) VALUES ($1, $2)
         ON CONFLICT (owner) DO UPDATE SET unread = u.unread + EXCLUDED.unread"
    };
    sqlx::query(sql)
        .bind(owner)
        .bind(delta)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
