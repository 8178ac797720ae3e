//! The `audit_log` projection: one entry per event in commit order, each chained to the previous
//! one by `audit::link` (the projector computes the chain; the command path is not serialized
//! by it).

use audit::chain::{hash_from_bytes, LoggedEvent, GENESIS};
use audit::{audit_entry, link};
use sqlx::PgConnection;

use crate::error::ProjectorError;
use crate::event::StoredEvent;

fn logged(event: &StoredEvent) -> LoggedEvent {
    LoggedEvent {
        position: event.position,
        event_id: event.event_id,
        aggregate_type: event.aggregate_type.clone(),
        aggregate_id: event.aggregate_id.clone(),
        sequence: event.sequence,
        event_type: event.event_type.clone(),
        event_version: event.event_version.clone(),
        payload: event.payload.clone(),
        metadata: event.metadata.clone(),
        recorded_at: event.recorded_at,
    }
}

/// Appends the entry of `event` to the chain on the connection's `search_path`.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    event: &StoredEvent,
) -> Result<(), ProjectorError> {
    let last: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    let (seq, previous) = match last {
        Some((seq, hash)) => (
            seq + 1,
            hash_from_bytes(&hash).ok_or(ProjectorError::MalformedAuditHash(seq))?,
        ),
        None => (1, GENESIS),
    };
    let logged = logged(event);
    let hash = link(&previous, &logged);
    let entry = audit_entry(&logged);
    sqlx::query(
        "INSERT INTO audit_log (seq, position, transaction_id, event_id, occurred_at, actor,
             action, message_id, counterpart, participants, request_id, client_ip, user_agent,
             details, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(seq)
    .bind(event.position.global_position)
    .bind(i64::try_from(event.position.transaction_id).unwrap_or(i64::MAX))
    .bind(event.event_id)
    .bind(entry.occurred_at)
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(entry.message_id)
    .bind(&entry.counterpart)
    .bind(&entry.participants)
    .bind(&entry.request_id)
    .bind(&entry.client_ip)
    .bind(&entry.user_agent)
    .bind(&entry.details)
    .bind(previous.as_slice())
    .bind(hash.as_slice())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
