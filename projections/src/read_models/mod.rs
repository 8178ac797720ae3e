//! The read models: each folds a whole batch of events into its tables with a few set-based
//! statements per table (arrays bound with `unnest`), never one statement per event.
//!
//! Every fold is a function of the events alone, whatever the batch boundaries: a live projector
//! applying ten events at a time and a rebuild applying ten thousand yield identical rows
//! (`projector verify` checks exactly that). Within a batch, the events of one message are
//! folded in memory first, in commit order; only the net change of each row is written.

pub mod archive;
pub mod audit_log;
pub mod composer;
pub mod erasure;
pub mod mailbox;
pub mod messages;
pub mod notifications;
pub mod triage;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use events::MessageEvent;
use read_side::{Projection, StoredEvent};
use sqlx::PgConnection;

use crate::error::ProjectorError;

/// Applies `events`, in commit order, to the tables of `projection` found on the connection's
/// `search_path` (the live ones, or a scratch copy during rebuild and verify).
pub(crate) async fn apply(
    conn: &mut PgConnection,
    projection: Projection,
    events: &[StoredEvent],
) -> Result<(), ProjectorError> {
    if projection == Projection::AuditLog {
        // The audit trail records every event as stored (sealed text stays sealed: the chain
        // covers what the log holds), decoded or not.
        return audit_log::apply(conn, events).await;
    }
    // The others fold the text: sealed events are opened first (blanks where erased).
    let events = &*read_side::open_sealed(conn, events).await?;
    match projection {
        Projection::AuditLog => Ok(()),
        Projection::Messages => {
            let messages = decode(events)?;
            messages::apply(conn, messages.iter().map(|d| &d.event)).await?;
            Ok(erasure::write_messages(conn, &messages).await?)
        }
        Projection::Mailbox => {
            let messages = decode(events)?;
            mailbox::apply(conn, &messages).await?;
            erasure::write_mailbox(conn, &messages).await?;
            archive::write(conn, events, &messages).await
        }
        Projection::Composer => {
            composer::apply(conn, events).await?;
            Ok(erasure::write_composer(conn, &decode(events)?).await?)
        }
    }
}

/// The secondary indexes the fold of `projection` itself reads (a rebuild keeps them during its
/// load; the others it builds after): the mailbox finds a conversation's newest visible message
/// through the thread index, which without it would read every row of the owner.
pub(crate) fn indexes_read_by_fold(projection: Projection) -> &'static [&'static str] {
    match projection {
        Projection::Mailbox => &["mailbox_conversation_idx"],
        Projection::Messages | Projection::AuditLog | Projection::Composer => &[],
    }
}

/// A message event and the log row it came from (its position and append time).
pub(crate) struct Decoded<'a> {
    pub stored: &'a StoredEvent,
    pub event: MessageEvent,
}

/// The message events of a batch, in order; events of other aggregates are skipped, an
/// unreadable one stops the batch.
fn decode(events: &[StoredEvent]) -> Result<Vec<Decoded<'_>>, ProjectorError> {
    let mut decoded = Vec::with_capacity(events.len());
    for stored in events {
        if let Some(event) = stored.message_event()? {
            decoded.push(Decoded { stored, event });
        }
    }
    Ok(decoded)
}

/// Per pair of users (who blocks whom, whose conversation with whom is archived): since when
/// the state holds, or `None` when it ended; the last event of the batch wins.
pub(crate) type PairStates = HashMap<(String, String), Option<DateTime<Utc>>>;

/// A table of [`PairStates`]: its name, its two key columns and its time column.
pub(crate) struct PairTable {
    pub table: &'static str,
    pub first: &'static str,
    pub second: &'static str,
    pub since: &'static str,
}

/// Writes `states` to `table`: the pairs whose state ended lose their row, the others get it
/// with the time of their last event (two statements, primary-key probes).
pub(crate) async fn write_pair_states(
    conn: &mut PgConnection,
    table: &PairTable,
    states: PairStates,
) -> Result<(), sqlx::Error> {
    if states.is_empty() {
        return Ok(());
    }
    let (mut firsts, mut seconds, mut times) = (vec![], vec![], vec![]);
    for ((first, second), at) in states {
        firsts.push(first);
        seconds.push(second);
        times.push(at);
    }
    let PairTable {
        table,
        first,
        second,
        since,
    } = table;
    let pairs = "unnest($1::text[], $2::text[], $3::timestamptz[]) AS p (first, second, at)";
    let statements = [
        format!(
            "DELETE FROM {table} x USING {pairs}
             WHERE p.at IS NULL AND x.{first} = p.first AND x.{second} = p.second"
        ),
        format!(
            "INSERT INTO {table} ({first}, {second}, {since})
             SELECT first, second, at FROM {pairs} WHERE at IS NOT NULL
             ON CONFLICT ({first}, {second}) DO UPDATE SET {since} = excluded.{since}"
        ),
    ];
    for statement in statements {
        sqlx::query(&statement)
            .bind(&firsts)
            .bind(&seconds)
            .bind(&times)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
