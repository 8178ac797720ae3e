//! The live-notification feed (`notifications`), part of the `mailbox` projection: written by
//! the mailbox fold in the same transaction as the inbox and the unread counters, so a
//! notification exists exactly when the tables a client reads show its change.
//!
//! Per event, at most one row per user, keyed by the event's position (the SSE `id`):
//!
//! - `message`: the recipient of a send, with the sender, the send time and their unread total
//!   after it;
//! - `read`: the sender of a message read for the first time, while the sender still sees it;
//! - `unread`: the recipient of any other event that changed their unread total, with the total.
//!
//! The totals run from `unread_counters` before the batch through the batch's events in commit
//! order, so they are the same whatever the batch boundaries. The feed starts after
//! `notification_feed.starts_after` (the mailbox's position when the feed was introduced) and
//! keeps `notification_feed.retention`: events older than that get no row (a rebuild does not
//! write years of them), and the projector deletes rows as they age out ([`prune`]).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use events::{LogPosition, MessageEvent};
use sqlx::PgConnection;
use uuid::Uuid;

use super::Decoded;

/// What one event changed for its participants, as the mailbox fold saw it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Effect {
    /// The change of the recipient's unread total.
    pub unread_change: i32,
    /// The read time, when the event is the first read of a message its sender still sees.
    pub first_read: Option<DateTime<Utc>>,
}

/// The batch's notifications, in one statement, before the unread counters move: each total is
/// the recipient's counter before the batch plus their running change within it (`$8`; NULL
/// for `read`), and only events after the feed's start and within its retention get a row.
pub const INSERT: &str = "INSERT INTO notifications (recipient, transaction_id,
        global_position, kind, message_id, counterpart, at, total_unread, occurred_at)
    SELECT n.recipient, n.xid::xid8, n.position, n.kind, n.message_id, n.counterpart, n.at,
           n.running + coalesce((SELECT u.unread FROM unread_counters u
                                 WHERE u.owner = n.recipient), 0),
           n.occurred_at
    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::uuid[], $6::text[],
                $7::timestamptz[], $8::int[], $9::timestamptz[])
        AS n (recipient, xid, position, kind, message_id, counterpart, at, running,
              occurred_at),
         notification_feed f
    WHERE (n.xid::xid8, n.position)
              > (f.starts_after_transaction_id, f.starts_after_position)
      AND n.occurred_at >= now() - f.retention";

/// Deletes, among the `$1` oldest rows by position, those older than the feed's retention: a
/// walk of the position index that reads no more than `$1` rows however large the feed. Append
/// times grow with positions (an event's transaction id is taken when it is appended), so the
/// old rows are the first ones; a chunk that deletes fewer than `$1` has reached the young ones.
pub const PRUNE: &str = "DELETE FROM notifications
    WHERE ctid = ANY (ARRAY(
        SELECT oldest.row
        FROM (SELECT x.ctid AS row, x.occurred_at
              FROM notifications x
              ORDER BY x.transaction_id, x.global_position
              LIMIT $1) oldest
        WHERE oldest.occurred_at < now() - (SELECT retention FROM notification_feed)))";

/// One row of the feed.
struct Row<'a> {
    recipient: &'a str,
    position: LogPosition,
    kind: &'static str,
    message_id: Uuid,
    counterpart: &'a str,
    at: Option<DateTime<Utc>>,
    /// The recipient's unread change from the start of the batch to this event (`message` and
    /// `unread`); the statement adds their counter before the batch.
    running: Option<i32>,
    occurred_at: DateTime<Utc>,
}

/// The rows `events` and their `effects` (same order) call for.
fn rows<'a>(events: &'a [Decoded<'_>], effects: &[Effect]) -> Vec<Row<'a>> {
    let mut running: HashMap<&str, i32> = HashMap::new();
    let mut rows = Vec::new();
    for (decoded, effect) in events.iter().zip(effects) {
        let (sender, recipient) = decoded.event.participants();
        let base = |recipient, kind, counterpart, at, running| Row {
            recipient,
            position: decoded.stored.position,
            kind,
            message_id: decoded.event.message_id(),
            counterpart,
            at,
            running,
            occurred_at: decoded.stored.recorded_at,
        };
        if let Some(read_at) = effect.first_read {
            rows.push(base(sender, "read", recipient, Some(read_at), None));
        }
        if effect.unread_change == 0 {
            continue;
        }
        let change = running.entry(recipient).or_insert(0);
        *change += effect.unread_change;
        let change = Some(*change);
        rows.push(match &decoded.event {
            MessageEvent::MessageSent { sent_at, .. } => {
                base(recipient, "message", sender, Some(*sent_at), change)
            }
            _ => base(recipient, "unread", "", None, change),
        });
    }
    rows
}

/// Writes the notifications of a batch (call before the unread counters are updated).
pub(crate) async fn write(
    conn: &mut PgConnection,
    events: &[Decoded<'_>],
    effects: &[Effect],
) -> Result<(), sqlx::Error> {
    let rows = rows(events, effects);
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(INSERT)
        .bind(rows.iter().map(|r| r.recipient).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| r.position.transaction_id.to_string())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|r| r.position.global_position)
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|r| r.kind).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.message_id).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| (!r.counterpart.is_empty()).then_some(r.counterpart))
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|r| r.at).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.running).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.occurred_at).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Deletes up to `limit` rows that have aged out of the feed; returns how many went.
pub async fn prune(conn: &mut PgConnection, limit: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(PRUNE)
        .bind(limit)
        .execute(&mut *conn)
        .await?
        .rows_affected())
}
