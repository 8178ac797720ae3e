//! The `mailbox` projection: one row per message per participant, plus the conversation
//! summaries and unread counters that must always agree with those rows.
//!
//! A received row counts as unread while `read_at IS NULL AND NOT deleted`. A conversation
//! `(owner, counterpart)` exists while the owner has a visible row with that counterpart; its
//! last message is the newest visible one by `(sent_at, message_id)` and its unread count the
//! number of its unread rows. `unread_counters` holds the unread rows per owner (a row exists
//! for everyone who has ever received a message).
//!
//! A batch is applied in a few statements whatever its size:
//!
//! 1. the rows its non-send events touch and that exist already are read (one probe per key);
//! 2. every event is folded in memory, in commit order, into the final state of each row;
//! 3. new rows are inserted, changed rows updated (one statement each);
//! 4. each conversation gets its net unread change and, if a row became visible, the newest
//!    such row as a candidate last message; a conversation whose last message became invisible
//!    takes the newest visible row that remains (an index probe), or goes when none remains;
//! 5. each owner's counter gets its net change;
//! 6. before that, the notification feed gets the batch's rows (one insert; see
//!    [`super::notifications`]), and the clinicians' triage its waits and replies (see
//!    [`super::triage`]).
//!
//! The net change of a row is final state minus state before the batch, so the result does not
//! depend on where batches begin and end.
//!
//! The same fold also says, event by event, whose unread total changed and which sent message
//! was read: the live notifications ([`super::notifications`]), written in the same transaction.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use events::MessageEvent;
use sqlx::PgConnection;
use uuid::Uuid;

use super::notifications::{self, Effect};
use super::triage;
use super::Decoded;

/// A mailbox row: `(owner, message_id)`.
type Key = (String, Uuid);

/// What the fold needs of a row.
#[derive(Debug, Clone, PartialEq)]
struct RowState {
    counterpart: String,
    received: bool,
    sent_at: DateTime<Utc>,
    read_at: Option<DateTime<Utc>>,
    deleted: bool,
}

impl RowState {
    fn unread(&self) -> i32 {
        i32::from(self.received && self.read_at.is_none() && !self.deleted)
    }
}

/// The content of a row sent in this batch.
struct NewContent {
    subject: Option<String>,
    content: String,
    parent: Option<Uuid>,
}

/// The rows of one batch: their state before it (for rows that existed) and after it.
#[derive(Default)]
struct Fold {
    before: HashMap<Key, RowState>,
    after: HashMap<Key, RowState>,
    /// Rows sent in this batch, in order.
    new: Vec<(Key, NewContent)>,
    /// Owners who received a message in this batch (their counter row must exist).
    receivers: Vec<String>,
}

impl Fold {
    fn hide(&mut self, owner: &str, message_id: Uuid) {
        if let Some(row) = self.after.get_mut(&(owner.to_owned(), message_id)) {
            row.deleted = true;
        }
    }

    fn show(&mut self, owner: &str, message_id: Uuid) {
        if let Some(row) = self.after.get_mut(&(owner.to_owned(), message_id)) {
            row.deleted = false;
        }
    }

    fn read(&mut self, owner: &str, message_id: Uuid, at: DateTime<Utc>) {
        if let Some(row) = self.after.get_mut(&(owner.to_owned(), message_id)) {
            row.read_at = row.read_at.or(Some(at));
        }
    }

    fn row(&self, owner: &str, message_id: Uuid) -> Option<&RowState> {
        self.after.get(&(owner.to_owned(), message_id))
    }

    /// Folds one event and says what it changed for its participants: the recipient's unread
    /// change, and the read time when it is the first read of a message the sender still sees.
    fn apply(&mut self, event: &MessageEvent) -> Effect {
        let id = event.message_id();
        let (sender, recipient) = event.participants();
        let unread_before = self.row(recipient, id).map_or(0, RowState::unread);
        let read_before = self.row(sender, id).and_then(|row| row.read_at);
        self.fold(event);
        let first_read = match event {
            MessageEvent::MessageRead { .. } if read_before.is_none() => self
                .row(sender, id)
                .filter(|row| !row.deleted)
                .and_then(|row| row.read_at),
            _ => None,
        };
        Effect {
            unread_change: self.row(recipient, id).map_or(0, RowState::unread) - unread_before,
            first_read,
        }
    }

    fn fold(&mut self, event: &MessageEvent) {
        use MessageEvent::*;
        match event {
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
                for (owner, counterpart, received) in
                    [(sender, recipient, false), (recipient, sender, true)]
                {
                    let key = (owner.clone(), *message_id);
                    self.after.insert(
                        key.clone(),
                        RowState {
                            counterpart: counterpart.clone(),
                            received,
                            sent_at: *sent_at,
                            read_at: None,
                            deleted: false,
                        },
                    );
                    self.new.push((
                        key,
                        NewContent {
                            subject: subject.clone(),
                            content: content.clone(),
                            parent: *parent_message_id,
                        },
                    ));
                }
                self.receivers.push(recipient.clone());
            }
            MessageRead {
                message_id,
                sender,
                recipient,
                read_at,
            } => {
                // Both rows carry the read time (the sender's sent list shows it).
                self.read(sender, *message_id, *read_at);
                self.read(recipient, *message_id, *read_at);
            }
            MessageDeletedBySender {
                message_id, sender, ..
            } => self.hide(sender, *message_id),
            MessageDeletedByRecipient {
                message_id,
                recipient,
                ..
            } => self.hide(recipient, *message_id),
            MessageHidden {
                message_id,
                sender,
                recipient,
                ..
            } => {
                self.hide(sender, *message_id);
                self.hide(recipient, *message_id);
            }
            MessageRestored {
                message_id,
                sender,
                recipient,
                ..
            } => {
                self.show(sender, *message_id);
                self.show(recipient, *message_id);
            }
            // Written after the fold (`erasure.rs`): they change neither visibility nor counts.
            MessageErased { .. } | MessageHoldSet { .. } => {}
        }
    }
}

/// The rows that the batch's events touch and that it does not create: those must be read.
fn keys_to_read(events: &[&MessageEvent]) -> Vec<Key> {
    let mut sent_here = std::collections::HashSet::new();
    let mut keys = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for event in events {
        use MessageEvent::*;
        let (id, owners): (Uuid, Vec<&String>) = match *event {
            MessageSent { message_id, .. } => {
                sent_here.insert(*message_id);
                continue;
            }
            MessageErased { .. } | MessageHoldSet { .. } => continue,
            MessageRead {
                message_id,
                sender,
                recipient,
                ..
            }
            | MessageHidden {
                message_id,
                sender,
                recipient,
                ..
            }
            | MessageRestored {
                message_id,
                sender,
                recipient,
                ..
            } => (*message_id, vec![sender, recipient]),
            MessageDeletedBySender {
                message_id, sender, ..
            } => (*message_id, vec![sender]),
            MessageDeletedByRecipient {
                message_id,
                recipient,
                ..
            } => (*message_id, vec![recipient]),
        };
        if sent_here.contains(&id) {
            continue;
        }
        for owner in owners {
            let key = (owner.clone(), id);
            if seen.insert(key.clone()) {
                keys.push(key);
            }
        }
    }
    keys
}

/// The rows of `($1, $2)` (owners, message ids) as they are before the batch: one primary-key probe each.
pub const READ_ROWS: &str =
    "SELECT m.owner, m.message_id, m.counterpart, m.direction = 'received', m.sent_at,
                m.read_at, m.deleted
         FROM unnest($1::text[], $2::uuid[]) AS k (owner, message_id)
         JOIN mailbox m ON m.owner = k.owner AND m.message_id = k.message_id";

/// New rows, with their search vector.
pub const INSERT_ROWS: &str =
    "INSERT INTO mailbox (owner, message_id, counterpart, direction, subject, content,
             parent_message_id, sent_at, read_at, deleted, search)
         SELECT owner, message_id, counterpart,
                CASE WHEN received THEN 'received' ELSE 'sent' END,
                subject, content, parent, sent_at, read_at, deleted,
                setweight(to_tsvector('english', coalesce(subject, '')), 'A')
                || setweight(to_tsvector('english', content), 'B')
         FROM unnest($1::text[], $2::uuid[], $3::text[], $4::bool[], $5::text[], $6::text[],
                     $7::uuid[], $8::timestamptz[], $9::timestamptz[], $10::bool[])
             AS r (owner, message_id, counterpart, received, subject, content, parent, sent_at,
                   read_at, deleted)";

/// Changed rows: their read time and visibility (primary-key probes).
pub const UPDATE_ROWS: &str = "UPDATE mailbox m SET read_at = r.read_at, deleted = r.deleted
         FROM unnest($1::text[], $2::uuid[], $3::timestamptz[], $4::bool[])
             AS r (owner, message_id, read_at, deleted)
         WHERE m.owner = r.owner AND m.message_id = r.message_id";

/// Each conversation's net unread change and newest newly visible message (`$4`, `$5`; NULL for none): existing rows are updated, missing ones inserted.
pub const MERGE_CONVERSATIONS: &str = "WITH d AS (
                 SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::uuid[],
                                      $5::timestamptz[])
                     AS d (owner, counterpart, unread, last_id, last_at)
             ),
             changed AS (
                 UPDATE conversations c SET
                     unread_count = c.unread_count + d.unread,
                     last_message_id = CASE
                         WHEN d.last_id IS NOT NULL
                              AND (d.last_at, d.last_id) > (c.last_activity_at, c.last_message_id)
                         THEN d.last_id ELSE c.last_message_id END,
                     last_activity_at = greatest(c.last_activity_at, d.last_at)
                 FROM d
                 WHERE c.owner = d.owner AND c.counterpart = d.counterpart
                 RETURNING c.owner, c.counterpart
             )
             INSERT INTO conversations
                 (owner, counterpart, last_message_id, last_activity_at, unread_count)
             SELECT d.owner, d.counterpart, d.last_id, d.last_at, d.unread
             FROM d
             WHERE d.last_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM changed
                               WHERE changed.owner = d.owner
                                 AND changed.counterpart = d.counterpart)";

/// Conversations whose last message (`$3`) was hidden take the newest visible row left (the thread index, backwards, one row), or go with the last one.
pub const REPLACE_LAST: &str = "WITH gone AS (
                 SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[])
                     AS g (owner, counterpart, message_id)
             ),
             stale AS (
                 SELECT c.owner, c.counterpart, n.message_id, n.sent_at
                 FROM gone g
                 JOIN conversations c ON c.owner = g.owner AND c.counterpart = g.counterpart
                                     AND c.last_message_id = g.message_id
                 LEFT JOIN LATERAL (
                     SELECT m.message_id, m.sent_at FROM mailbox m
                     WHERE m.owner = c.owner AND m.counterpart = c.counterpart AND NOT m.deleted
                     ORDER BY m.sent_at DESC, m.message_id DESC
                     LIMIT 1
                 ) n ON true
             ),
             moved AS (
                 UPDATE conversations c
                 SET last_message_id = s.message_id, last_activity_at = s.sent_at
                 FROM stale s
                 WHERE s.message_id IS NOT NULL
                   AND c.owner = s.owner AND c.counterpart = s.counterpart
             )
             DELETE FROM conversations c USING stale s
             WHERE s.message_id IS NULL AND c.owner = s.owner AND c.counterpart = s.counterpart";

/// Each owner's net unread change; an owner without a row gets one.
pub const ADD_UNREAD: &str = "WITH d AS (
         SELECT * FROM unnest($1::text[], $2::int[]) AS d (owner, delta)
     ),
     changed AS (
         UPDATE unread_counters u SET unread = u.unread + d.delta
         FROM d
         WHERE u.owner = d.owner AND d.delta <> 0
     )
     INSERT INTO unread_counters (owner, unread)
     SELECT d.owner, d.delta FROM d WHERE d.delta >= 0
     ON CONFLICT (owner) DO NOTHING";

/// Applies a batch of events (in commit order) to `mailbox`, `conversations`,
/// `unread_counters`, `notifications` and the triage's tables.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    events: &[Decoded<'_>],
) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let messages: Vec<&MessageEvent> = events.iter().map(|d| &d.event).collect();
    let mut fold = Fold {
        before: read_rows(conn, &keys_to_read(&messages)).await?,
        ..Fold::default()
    };
    fold.after = fold.before.clone();
    let effects: Vec<Effect> = messages.iter().map(|event| fold.apply(event)).collect();
    // Before the counters move: the notifications count from the totals before the batch.
    notifications::write(conn, events, &effects).await?;
    triage::write(conn, &messages).await?;
    insert_rows(conn, &fold).await?;
    update_rows(conn, &fold).await?;
    update_conversations(conn, &fold).await?;
    update_counters(conn, &fold).await
}

async fn read_rows(
    conn: &mut PgConnection,
    keys: &[Key],
) -> Result<HashMap<Key, RowState>, sqlx::Error> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    type Row = (
        String,
        Uuid,
        String,
        bool,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
        bool,
    );
    let rows: Vec<Row> = sqlx::query_as(READ_ROWS)
        .bind(keys.iter().map(|(o, _)| o.as_str()).collect::<Vec<_>>())
        .bind(keys.iter().map(|(_, m)| *m).collect::<Vec<_>>())
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(owner, message_id, counterpart, received, sent_at, read_at, deleted)| {
                (
                    (owner, message_id),
                    RowState {
                        counterpart,
                        received,
                        sent_at,
                        read_at,
                        deleted,
                    },
                )
            },
        )
        .collect())
}

async fn insert_rows(conn: &mut PgConnection, fold: &Fold) -> Result<(), sqlx::Error> {
    if fold.new.is_empty() {
        return Ok(());
    }
    // Every new key is in `after`: the send put it there and nothing removes rows.
    let rows: Vec<(&Key, &NewContent, &RowState)> = fold
        .new
        .iter()
        .filter_map(|(key, content)| Some((key, content, fold.after.get(key)?)))
        .collect();
    sqlx::query(INSERT_ROWS)
        .bind(
            rows.iter()
                .map(|(k, _, _)| k.0.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|(k, _, _)| k.1).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|(_, _, s)| s.counterpart.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|(_, _, s)| s.received).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|(_, c, _)| c.subject.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|(_, c, _)| c.content.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|(_, c, _)| c.parent).collect::<Vec<_>>())
        .bind(rows.iter().map(|(_, _, s)| s.sent_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|(_, _, s)| s.read_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|(_, _, s)| s.deleted).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn update_rows(conn: &mut PgConnection, fold: &Fold) -> Result<(), sqlx::Error> {
    let changed: Vec<(&Key, &RowState)> = fold
        .before
        .iter()
        .filter_map(|(key, before)| {
            let after = fold.after.get(key)?;
            (after != before).then_some((key, after))
        })
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    sqlx::query(UPDATE_ROWS)
        .bind(
            changed
                .iter()
                .map(|((o, _), _)| o.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(changed.iter().map(|((_, m), _)| *m).collect::<Vec<_>>())
        .bind(changed.iter().map(|(_, s)| s.read_at).collect::<Vec<_>>())
        .bind(changed.iter().map(|(_, s)| s.deleted).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The change of one conversation in this batch.
#[derive(Default)]
struct ConversationChange {
    unread: i32,
    /// The newest row that became visible, if any: `(sent_at, message_id)`.
    candidate: Option<(DateTime<Utc>, Uuid)>,
}

async fn update_conversations(conn: &mut PgConnection, fold: &Fold) -> Result<(), sqlx::Error> {
    let mut changes: HashMap<(&str, &str), ConversationChange> = HashMap::new();
    // Rows that were visible before the batch and are not after it.
    let mut gone: Vec<(&str, &str, Uuid)> = Vec::new();
    for (key, after) in &fold.after {
        let before = fold.before.get(key);
        let unread = after.unread() - before.map_or(0, RowState::unread);
        let became_visible = !after.deleted && before.is_none_or(|b| b.deleted);
        if before.is_some_and(|b| !b.deleted) && after.deleted {
            gone.push((&key.0, &after.counterpart, key.1));
        }
        if unread == 0 && !became_visible {
            continue;
        }
        let change = changes.entry((&key.0, &after.counterpart)).or_default();
        change.unread += unread;
        if became_visible {
            let row = (after.sent_at, key.1);
            if change.candidate.is_none_or(|c| row > c) {
                change.candidate = Some(row);
            }
        }
    }
    let changes: Vec<_> = changes.into_iter().collect();
    if !changes.is_empty() {
        // Existing conversations take the net change (and a newer last message); new ones are
        // inserted when a row became visible. One statement; the projector is the only writer.
        sqlx::query(MERGE_CONVERSATIONS)
            .bind(changes.iter().map(|((o, _), _)| *o).collect::<Vec<_>>())
            .bind(changes.iter().map(|((_, c), _)| *c).collect::<Vec<_>>())
            .bind(changes.iter().map(|(_, c)| c.unread).collect::<Vec<_>>())
            .bind(
                changes
                    .iter()
                    .map(|(_, c)| c.candidate.map(|(_, id)| id))
                    .collect::<Vec<_>>(),
            )
            .bind(
                changes
                    .iter()
                    .map(|(_, c)| c.candidate.map(|(at, _)| at))
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *conn)
            .await?;
    }
    if !gone.is_empty() {
        // A conversation whose last message is gone takes the newest visible row left (the
        // thread index, backwards, one row), or goes with the last one.
        sqlx::query(REPLACE_LAST)
            .bind(gone.iter().map(|(o, _, _)| *o).collect::<Vec<_>>())
            .bind(gone.iter().map(|(_, c, _)| *c).collect::<Vec<_>>())
            .bind(gone.iter().map(|(_, _, m)| *m).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn update_counters(conn: &mut PgConnection, fold: &Fold) -> Result<(), sqlx::Error> {
    let mut deltas: HashMap<&str, i32> = HashMap::new();
    for owner in &fold.receivers {
        deltas.entry(owner).or_insert(0);
    }
    for (key, after) in &fold.after {
        let delta = after.unread() - fold.before.get(key).map_or(0, RowState::unread);
        if delta != 0 {
            match deltas.entry(&key.0) {
                Entry::Occupied(mut e) => *e.get_mut() += delta,
                Entry::Vacant(e) => {
                    e.insert(delta);
                }
            }
        }
    }
    if deltas.is_empty() {
        return Ok(());
    }
    let deltas: Vec<(&str, i32)> = deltas.into_iter().collect();
    // An owner without a row has never received a message before this batch, so their change
    // is not negative (and a negative proposed row would fail the check before the conflict is
    // found); owners with a row are left to the update.
    sqlx::query(ADD_UNREAD)
        .bind(deltas.iter().map(|(o, _)| *o).collect::<Vec<_>>())
        .bind(deltas.iter().map(|(_, d)| *d).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    Ok(())
}
