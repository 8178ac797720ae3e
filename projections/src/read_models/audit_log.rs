//! The `audit_log` projection: one entry per event in commit order, each chained to the previous
//! one by `audit::link` (the projector computes the chain; the command path is not serialized
//! by it).

use audit::chain::{hash_from_bytes, GENESIS};
use audit::{audit_entry, link};
use sqlx::PgConnection;

use read_side::StoredEvent;

use crate::error::ProjectorError;

/// Appends the entries of `events`, chained in order, to the log on the connection's
/// `search_path`: the last entry is read once, the hashes are computed here, and every entry
/// is written by one `INSERT … SELECT FROM unnest(…)`.
/// The chain's last entry (the primary key, backwards, one row).
pub const LAST_ENTRY: &str = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";

/// A batch of chained entries; `participants` travels as one JSON array per row.
pub const INSERT_ENTRIES: &str =
    "INSERT INTO audit_log (seq, position, transaction_id, event_id, occurred_at, actor,
             action, message_id, counterpart, participants, request_id, client_ip, user_agent,
             details, prev_hash, hash)
         SELECT seq, position, transaction_id, event_id, occurred_at, actor, action, message_id,
                counterpart, ARRAY(SELECT jsonb_array_elements_text(participants)), request_id,
                client_ip, user_agent, details, prev_hash, hash
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::uuid[], $5::timestamptz[],
                     $6::text[], $7::text[], $8::uuid[], $9::text[], $10::jsonb[], $11::text[],
                     $12::text[], $13::text[], $14::jsonb[], $15::bytea[], $16::bytea[])
             AS r (seq, position, transaction_id, event_id, occurred_at, actor, action,
                   message_id, counterpart, participants, request_id, client_ip, user_agent,
                   details, prev_hash, hash)";

pub(crate) async fn apply(
    conn: &mut PgConnection,
    events: &[StoredEvent],
) -> Result<(), ProjectorError> {
    if events.is_empty() {
        return Ok(());
    }
    let last: Option<(i64, Vec<u8>)> = sqlx::query_as(LAST_ENTRY)
        .fetch_optional(&mut *conn)
        .await?;
    let (mut seq, mut previous) = match last {
        Some((seq, hash)) => (
            seq,
            hash_from_bytes(&hash).ok_or(ProjectorError::MalformedAuditHash(seq))?,
        ),
        None => (0, GENESIS),
    };
    let mut rows = Rows::with_capacity(events.len());
    for event in events {
        seq += 1;
        let hash = link(&previous, event);
        let entry = audit_entry(event);
        rows.seq.push(seq);
        rows.position.push(event.position.global_position);
        rows.transaction_id
            .push(i64::try_from(event.position.transaction_id).unwrap_or(i64::MAX));
        rows.event_id.push(event.event_id);
        rows.occurred_at.push(entry.occurred_at);
        rows.actor.push(entry.actor);
        rows.action.push(entry.action);
        rows.message_id.push(entry.message_id);
        rows.counterpart.push(entry.counterpart);
        rows.participants
            .push(serde_json::Value::from(entry.participants));
        rows.request_id.push(entry.request_id);
        rows.client_ip.push(entry.client_ip);
        rows.user_agent.push(entry.user_agent);
        rows.details.push(entry.details);
        rows.prev_hash.push(previous.to_vec());
        rows.hash.push(hash.to_vec());
        previous = hash;
    }
    // `participants` travels as one JSON array per row (an array of arrays cannot be unnested
    // row by row) and becomes `text[]` again here.
    sqlx::query(INSERT_ENTRIES)
        .bind(rows.seq)
        .bind(rows.position)
        .bind(rows.transaction_id)
        .bind(rows.event_id)
        .bind(rows.occurred_at)
        .bind(rows.actor)
        .bind(rows.action)
        .bind(rows.message_id)
        .bind(rows.counterpart)
        .bind(rows.participants)
        .bind(rows.request_id)
        .bind(rows.client_ip)
        .bind(rows.user_agent)
        .bind(rows.details)
        .bind(rows.prev_hash)
        .bind(rows.hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The columns of a batch of entries.
#[derive(Default)]
struct Rows {
    seq: Vec<i64>,
    position: Vec<i64>,
    transaction_id: Vec<i64>,
    event_id: Vec<uuid::Uuid>,
    occurred_at: Vec<chrono::DateTime<chrono::Utc>>,
    actor: Vec<Option<String>>,
    action: Vec<String>,
    message_id: Vec<Option<uuid::Uuid>>,
    counterpart: Vec<Option<String>>,
    participants: Vec<serde_json::Value>,
    request_id: Vec<Option<String>>,
    client_ip: Vec<Option<String>>,
    user_agent: Vec<Option<String>>,
    details: Vec<serde_json::Value>,
    prev_hash: Vec<Vec<u8>>,
    hash: Vec<Vec<u8>>,
}

impl Rows {
    fn with_capacity(n: usize) -> Self {
        Self {
            seq: Vec::with_capacity(n),
            position: Vec::with_capacity(n),
            transaction_id: Vec::with_capacity(n),
            event_id: Vec::with_capacity(n),
            occurred_at: Vec::with_capacity(n),
            actor: Vec::with_capacity(n),
            action: Vec::with_capacity(n),
            message_id: Vec::with_capacity(n),
            counterpart: Vec::with_capacity(n),
            participants: Vec::with_capacity(n),
            request_id: Vec::with_capacity(n),
            client_ip: Vec::with_capacity(n),
            user_agent: Vec::with_capacity(n),
            details: Vec::with_capacity(n),
            prev_hash: Vec::with_capacity(n),
            hash: Vec::with_capacity(n),
        }
    }
}
