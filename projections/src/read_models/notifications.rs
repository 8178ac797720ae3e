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
use read_side::parse_xid;
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

/// Where the feed starts, the oldest append time it keeps, and the unread totals of `$1`
/// (owners) before the batch: one round trip. No row when the feed is not set up.
pub const FEED_AND_TOTALS: &str = "SELECT f.starts_after_transaction_id::text,
        f.starts_after_position, now() - f.retention,
        coalesce(t.owners, '{}'), coalesce(t.counts, '{}')
    FROM notification_feed f
    LEFT JOIN LATERAL (
        SELECT array_agg(u.owner) AS owners, array_agg(u.unread) AS counts
        FROM unread_counters u WHERE u.owner = ANY($1)
    ) t ON true";

/// The batch's notifications, in one statement.
pub const INSERT: &str = "INSERT INTO notifications (recipient, transaction_id,
        global_position, kind, message_id, counterpart, at, total_unread, occurred_at)
    SELECT recipient, xid::xid8, position, kind, message_id, counterpart, at, total_unread,
           occurred_at
    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::uuid[], $6::text[],
                $7::timestamptz[], $8::int[], $9::timestamptz[])
        AS n (recipient, xid, position, kind, message_id, counterpart, at, total_unread,
              occurred_at)";

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
    total_unread: Option<i32>,
    occurred_at: DateTime<Utc>,
}

/// The rows `events` and their `effects` (same order) call for, before the feed's bounds.
fn rows<'a>(
    events: &'a [Decoded<'_>],
    effects: &[Effect],
    mut totals: HashMap<&'a str, i32>,
) -> Vec<Row<'a>> {
    let mut rows = Vec::new();
    for (decoded, effect) in events.iter().zip(effects) {
        let (sender, recipient) = decoded.event.participants();
        let base = |recipient, kind, counterpart, at, total_unread| Row {
            recipient,
            position: decoded.stored.position,
            kind,
            message_id: decoded.event.message_id(),
            counterpart,
            at,
            total_unread,
            occurred_at: decoded.stored.recorded_at,
        };
        if let Some(read_at) = effect.first_read {
            rows.push(base(sender, "read", recipient, Some(read_at), None));
        }
        if effect.unread_change == 0 {
            continue;
        }
        let total = totals.entry(recipient).or_insert(0);
        *total += effect.unread_change;
        let total = Some(*total);
        rows.push(match &decoded.event {
            MessageEvent::MessageSent { sent_at, .. } => {
                base(recipient, "message", sender, Some(*sent_at), total)
            }
            _ => base(recipient, "unread", "", None, total),
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
    let mut owners: Vec<&str> = events
        .iter()
        .zip(effects)
        .filter(|(_, effect)| effect.unread_change != 0)
        .map(|(decoded, _)| decoded.event.participants().1)
        .collect();
    if owners.is_empty() && effects.iter().all(|e| e.first_read.is_none()) {
        return Ok(());
    }
    owners.sort_unstable();
    owners.dedup();
    type Feed = (String, i64, DateTime<Utc>, Vec<String>, Vec<i32>);
    let feed: Option<Feed> = sqlx::query_as(FEED_AND_TOTALS)
        .bind(&owners)
        .fetch_optional(&mut *conn)
        .await?;
    let Some((start_xid, start_position, since, counted, counts)) = feed else {
        return Ok(());
    };
    let start = LogPosition {
        transaction_id: parse_xid(&start_xid).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        global_position: start_position,
    };
    let counted: HashMap<&str, i32> = counted.iter().map(String::as_str).zip(counts).collect();
    // An owner without a counter row has never received a message: a total of 0.
    let totals: HashMap<&str, i32> = owners
        .iter()
        .map(|owner| (*owner, counted.get(owner).copied().unwrap_or(0)))
        .collect();
    let rows: Vec<Row> = rows(events, effects, totals)
        .into_iter()
        .filter(|row| row.position > start && row.occurred_at >= since)
        .collect();
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
        .bind(rows.iter().map(|r| r.total_unread).collect::<Vec<_>>())
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
