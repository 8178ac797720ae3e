//! Erasures and legal holds in the read tables.
//!
//! `MessageErased` blanks the message's subject and content (and its search terms) wherever a
//! read table keeps them and records `erased_at`; `MessageHoldSet` sets `messages.held`. Each runs
//! after the batch's fold, as one statement per table, so a message sent and erased in the same
//! batch is inserted and then blanked. A replay opens the message's sealed text to blanks already
//! (its key is gone), so live tables and a rebuild agree. Times only move `updated_at` forward
//! (`greatest`), whatever the batch boundaries.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use events::MessageEvent;
use sqlx::PgConnection;
use uuid::Uuid;

use super::Decoded;

/// The erasures of a batch: message, its two participants, when.
fn erasures<'a>(messages: &'a [Decoded<'_>]) -> Vec<(Uuid, &'a str, &'a str, DateTime<Utc>)> {
    messages
        .iter()
        .filter_map(|d| match &d.event {
            MessageEvent::MessageErased {
                message_id,
                sender,
                recipient,
                erased_at,
                ..
            } => Some((*message_id, sender.as_str(), recipient.as_str(), *erased_at)),
            _ => None,
        })
        .collect()
}

/// `messages`: erased rows blanked, holds set (the last of the batch wins).
pub(crate) async fn write_messages(
    conn: &mut PgConnection,
    messages: &[Decoded<'_>],
) -> Result<(), sqlx::Error> {
    let erased = erasures(messages);
    if !erased.is_empty() {
        let ids: Vec<Uuid> = erased.iter().map(|e| e.0).collect();
        let times: Vec<_> = erased.iter().map(|e| e.3.naive_utc()).collect();
        sqlx::query(
            "UPDATE messages m SET subject = NULL, content = '', erased_at = e.at,
                 updated_at = greatest(m.updated_at, e.at)
             FROM unnest($1::uuid[], $2::timestamp[]) AS e (id, at)
             WHERE m.id = e.id",
        )
        .bind(&ids)
        .bind(&times)
        .execute(&mut *conn)
        .await?;
    }
    let mut holds: HashMap<Uuid, (bool, DateTime<Utc>)> = HashMap::new();
    for decoded in messages {
        if let MessageEvent::MessageHoldSet {
            message_id,
            held,
            set_at,
            ..
        } = &decoded.event
        {
            holds.insert(*message_id, (*held, *set_at));
        }
    }
    if !holds.is_empty() {
        let (mut ids, mut held, mut times) = (vec![], vec![], vec![]);
        for (id, (h, at)) in holds {
            ids.push(id);
            held.push(h);
            times.push(at.naive_utc());
        }
        sqlx::query(
            "UPDATE messages m SET held = h.held, updated_at = greatest(m.updated_at, h.at)
             FROM unnest($1::uuid[], $2::bool[], $3::timestamp[]) AS h (id, held, at)
             WHERE m.id = h.id",
        )
        .bind(&ids)
        .bind(&held)
        .bind(&times)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// `mailbox`: both participants' rows of each erased message blanked, search terms included
/// (primary-key probes).
pub(crate) async fn write_mailbox(
    conn: &mut PgConnection,
    messages: &[Decoded<'_>],
) -> Result<(), sqlx::Error> {
    let erased = erasures(messages);
    if erased.is_empty() {
        return Ok(());
    }
    let (mut owners, mut ids, mut times) = (vec![], vec![], vec![]);
    for (id, sender, recipient, at) in erased {
        for owner in [sender, recipient] {
            owners.push(owner);
            ids.push(id);
            times.push(at);
        }
    }
    sqlx::query(
        "UPDATE mailbox m SET subject = NULL, content = '', search = ''::tsvector,
             erased_at = e.at
         FROM unnest($1::text[], $2::uuid[], $3::timestamptz[]) AS e (owner, id, at)
         WHERE m.owner = e.owner AND m.message_id = e.id",
    )
    .bind(&owners)
    .bind(&ids)
    .bind(&times)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// `scheduled_messages`: the scheduled copy of an erased message blanked too.
pub(crate) async fn write_composer(
    conn: &mut PgConnection,
    messages: &[Decoded<'_>],
) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = erasures(messages).iter().map(|e| e.0).collect();
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE scheduled_messages SET subject = NULL, content = ''
         WHERE message_id = ANY($1::uuid[])",
    )
    .bind(&ids)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
