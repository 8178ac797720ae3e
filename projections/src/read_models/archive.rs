//! Archived conversations, part of the mailbox projection: `archived_conversations` and
//! `conversations.archived`.
//!
//! In commit order: an archive request archives the owner's conversation, an unarchive request
//! or a new message from the counterpart brings it back. At the end of the batch (after the
//! conversations are written) every conversation the batch may have created (a send, a
//! restore) or whose archive changed gets `archived` = "has an
//! archived row": both the row and the flag then depend on the events alone, whatever the batch
//! boundaries (a conversation deleted and re-created in one batch or in two ends the same).

use std::collections::HashSet;

use events::{ArchiveEvent, MessageEvent};
use read_side::StoredEvent;
use sqlx::PgConnection;

use crate::error::ProjectorError;
use crate::read_models::{write_pair_states, Decoded, PairStates, PairTable};

/// The archived conversations, per owner and counterpart.
const ARCHIVED: PairTable = PairTable {
    table: "archived_conversations",
    first: "owner",
    second: "counterpart",
    since: "archived_at",
};

/// Folds the archive requests of `events` with the batch's message events (`messages`, the
/// decoded message events of the same batch, in the same order), after the mailbox wrote them.
pub(crate) async fn write(
    conn: &mut PgConnection,
    events: &[StoredEvent],
    messages: &[Decoded<'_>],
) -> Result<(), ProjectorError> {
    // Per (owner, counterpart): archived since, or not archived (the last event wins).
    let mut requests = PairStates::new();
    let mut touched: HashSet<(String, String)> = HashSet::new();
    let mut next = messages.iter().peekable();
    for stored in events {
        if let Some(decoded) = next.next_if(|d| std::ptr::eq(d.stored, stored)) {
            let (sender, recipient) = decoded.event.participants();
            match decoded.event {
                // A new message from the counterpart brings the conversation back.
                MessageEvent::MessageSent { .. } => {
                    requests.insert((recipient.to_owned(), sender.to_owned()), None);
                }
                // A restore may bring a conversation row back.
                MessageEvent::MessageRestored { .. } => {}
                // Reads and deletes never create a conversation row: nothing to set.
                _ => continue,
            }
            touched.insert((sender.to_owned(), recipient.to_owned()));
            touched.insert((recipient.to_owned(), sender.to_owned()));
        } else if let Some(event) = stored.archive_event()? {
            let (key, at) = match event {
                ArchiveEvent::ConversationArchived {
                    owner,
                    counterpart,
                    archived_at,
                } => ((owner, counterpart), Some(archived_at)),
                ArchiveEvent::ConversationUnarchived {
                    owner, counterpart, ..
                } => ((owner, counterpart), None),
            };
            touched.insert(key.clone());
            requests.insert(key, at);
        }
    }
    if touched.is_empty() {
        return Ok(());
    }
    write_pair_states(conn, &ARCHIVED, requests).await?;
    let (owners, counterparts): (Vec<String>, Vec<String>) = touched.into_iter().unzip();
    sqlx::query(SET_ARCHIVED)
        .bind(&owners)
        .bind(&counterparts)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The conversations touched (`$1`, `$2`) take `archived` from `archived_conversations`
/// (primary-key probes; only the rows that change are written).
pub const SET_ARCHIVED: &str = "UPDATE conversations c SET archived = t.archived
     FROM (SELECT k.owner, k.counterpart, a.owner IS NOT NULL AS archived
           FROM unnest($1::text[], $2::text[]) AS k (owner, counterpart)
           LEFT JOIN archived_conversations a
                  ON a.owner = k.owner AND a.counterpart = k.counterpart) t
     WHERE c.owner = t.owner AND c.counterpart = t.counterpart AND c.archived <> t.archived";
