//! `audit verify`: recomputes the chain from the event log and finds the first position where the
//! log and the audit trail disagree; `audit head` reads the chain's head for anchoring.

use std::fmt;

use events::LogPosition;
use futures::TryStreamExt;
use sqlx::{PgPool, Row};

use crate::chain::{hash_from_bytes, link, ChainHash, LoggedEvent, GENESIS, LOGGED_EVENT_COLUMNS};
use crate::entry::audit_entry;

/// The first disagreement found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The event at this position no longer hashes to its entry's hash: the event (payload,
    /// metadata, any column) or the entry's hash was changed.
    EventChanged { position: i64 },
    /// An audit entry exists for a position with no event: the event row was deleted.
    EventMissing { position: i64 },
    /// An event has no audit entry at its place in the chain: an event was inserted (or its
    /// entry deleted).
    EntryMissing { position: i64 },
    /// The entry's own columns (actor, action, ...) differ from what its event says.
    EntryAltered { position: i64, column: &'static str },
    /// The entry's `prev_hash` or `seq` does not continue the chain.
    ChainBroken { position: i64 },
    /// The anchored head no longer matches.
    AnchorMismatch { position: i64 },
    /// No entry of the chain is at the anchored position: the log was truncated below the anchor
    /// (the anchor lies past the head), or the anchored event was removed, and the chain
    /// recomputed. `head` is the position the chain ends at (`None`: the chain is empty).
    AnchorNotFound { position: i64, head: Option<i64> },
}

impl Problem {
    /// The position the problem is at.
    pub fn position(&self) -> i64 {
        match self {
            Problem::EventChanged { position }
            | Problem::EventMissing { position }
            | Problem::EntryMissing { position }
            | Problem::EntryAltered { position, .. }
            | Problem::ChainBroken { position }
            | Problem::AnchorMismatch { position }
            | Problem::AnchorNotFound { position, .. } => *position,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::EventChanged { position } => write!(
                f,
                "position {position}: the event does not match its audit hash (event or hash changed)"
            ),
            Problem::EventMissing { position } => {
                write!(f, "position {position}: audit entry without event (event deleted)")
            }
            Problem::EntryMissing { position } => write!(
                f,
                "position {position}: event without audit entry (event inserted or entry deleted)"
            ),
            Problem::EntryAltered { position, column } => {
                write!(f, "position {position}: audit entry column `{column}` was altered")
            }
            Problem::ChainBroken { position } => {
                write!(f, "position {position}: the chain is broken (entry inserted, removed or reordered)")
            }
            Problem::AnchorMismatch { position } => {
                write!(f, "position {position}: the anchored hash no longer matches")
            }
            Problem::AnchorNotFound { position, head } => match head {
                Some(head) if head > position => write!(
                    f,
                    "position {position}: the chain has no entry at the anchored position \
                     (the anchored event was removed and the chain recomputed)"
                ),
                Some(head) => write!(
                    f,
                    "position {position}: the anchor lies past the head (position {head}): \
                     the log was truncated below the anchor"
                ),
                None => write!(
                    f,
                    "position {position}: the anchor lies past the head (the audit log is \
                     empty): the log was truncated below the anchor"
                ),
            },
        }
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub entries_checked: u64,
    pub head: Option<(i64, ChainHash)>,
    pub problem: Option<Problem>,
}

/// Why verification could not run.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// An event row that cannot be read (a stored transaction id that is not a number).
    #[error(transparent)]
    Log(#[from] read_side::LogError),
    #[error("audit row at seq {0} has a malformed hash")]
    MalformedHash(i64),
}

struct StoredEntry {
    seq: i64,
    position: i64,
    transaction_id: i64,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
    event_id: uuid::Uuid,
    occurred_at: chrono::DateTime<chrono::Utc>,
    actor: Option<String>,
    action: String,
    message_id: Option<uuid::Uuid>,
    counterpart: Option<String>,
    participants: Vec<String>,
    request_id: Option<String>,
    client_ip: Option<String>,
    user_agent: Option<String>,
    details: serde_json::Value,
}

/// The first column of `entry` that is not what `event` says (every column an export or the
/// API shows: hiding a row from a patient's export by editing `participants` is tampering too).
fn first_altered_column(entry: &StoredEntry, event: &LoggedEvent) -> Option<&'static str> {
    let expected = audit_entry(event);
    if entry.event_id != event.event_id {
        Some("event_id")
    } else if entry.occurred_at != expected.occurred_at {
        Some("occurred_at")
    } else if entry.actor != expected.actor {
        Some("actor")
    } else if entry.action != expected.action {
        Some("action")
    } else if entry.message_id != expected.message_id {
        Some("message_id")
    } else if entry.counterpart != expected.counterpart {
        Some("counterpart")
    } else if entry.participants != expected.participants {
        Some("participants")
    } else if entry.request_id != expected.request_id {
        Some("request_id")
    } else if entry.client_ip != expected.client_ip {
        Some("client_ip")
    } else if entry.user_agent != expected.user_agent {
        Some("user_agent")
    } else if entry.details != expected.details {
        Some("details")
    } else {
        None
    }
}

/// The audit projection's checkpoint and the last entry's `seq`, read in one snapshot: the
/// projector writes entries and checkpoint in one transaction, so entries up to that `seq` are
/// exactly those of the events up to that checkpoint. (Reading them apart, a batch committed in
/// between shows as entries without events: a false alarm on a live system.)
async fn audited_up_to(pool: &PgPool) -> Result<(LogPosition, i64), sqlx::Error> {
    let row: Option<(String, i64, i64)> = sqlx::query_as(
        "SELECT c.transaction_id::text, c.global_position,
                coalesce((SELECT max(seq) FROM audit_log), 0)
         FROM projection_checkpoints c
         WHERE c.projection = 'audit_log'",
    )
    .fetch_optional(pool)
    .await?;
    Ok(row
        .and_then(|(xid, global_position, last_seq)| {
            Some((
                LogPosition {
                    transaction_id: xid.parse().ok()?,
                    global_position,
                },
                last_seq,
            ))
        })
        .unwrap_or((LogPosition::START, 0)))
}

/// Recomputes the chain over every audited event and compares it with `audit_log`, optionally
/// also checking an anchor `(position, hash)` taken earlier with `audit head`: the chain must
/// still hold an entry at that position, with that hash.
pub async fn verify(
    pool: &PgPool,
    anchor: Option<(i64, ChainHash)>,
    mut progress: impl FnMut(u64),
) -> Result<Report, VerifyError> {
    let (up_to, last_seq) = audited_up_to(pool).await?;
    let events_sql = format!(
        "SELECT {LOGGED_EVENT_COLUMNS} FROM events
         WHERE (transaction_id, global_position) <= ($1::text::xid8, $2)
         ORDER BY transaction_id, global_position"
    );
    let mut events = sqlx::query(&events_sql)
        .bind(up_to.transaction_id.to_string())
        .bind(up_to.global_position)
        .fetch(pool);
    let mut entries = sqlx::query(
        "SELECT seq, position, transaction_id, prev_hash, hash, event_id, occurred_at, actor,
                action, message_id, counterpart, participants, request_id, client_ip,
                user_agent, details
         FROM audit_log WHERE seq <= $1 ORDER BY seq",
    )
    .bind(last_seq)
    .fetch(pool);
    let mut previous = GENESIS;
    let mut checked = 0u64;
    let mut head = None;
    let mut anchor_seen = false;
    let mut next_event = events.try_next().await?;
    let mut next_entry = entries.try_next().await?;
    let problem = loop {
        let event = next_event.as_ref().map(LoggedEvent::from_row).transpose()?;
        let entry = next_entry
            .as_ref()
            .map(|row| -> Result<StoredEntry, sqlx::Error> {
                Ok(StoredEntry {
                    seq: row.try_get("seq")?,
                    position: row.try_get("position")?,
                    transaction_id: row.try_get("transaction_id")?,
                    prev_hash: row.try_get("prev_hash")?,
                    hash: row.try_get("hash")?,
                    event_id: row.try_get("event_id")?,
                    occurred_at: row.try_get("occurred_at")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    message_id: row.try_get("message_id")?,
                    counterpart: row.try_get("counterpart")?,
                    participants: row.try_get("participants")?,
                    request_id: row.try_get("request_id")?,
                    client_ip: row.try_get("client_ip")?,
                    user_agent: row.try_get("user_agent")?,
                    details: row.try_get("details")?,
                })
            })
            .transpose()?;
        let (event, entry) = match (event, entry) {
            (None, None) => break None,
            (Some(event), None) => {
                break Some(Problem::EntryMissing {
                    position: event.position.global_position,
                })
            }
            (None, Some(entry)) => {
                break Some(Problem::EventMissing {
                    position: entry.position,
                })
            }
            (Some(event), Some(entry)) => (event, entry),
        };
        let entry_at = (entry.transaction_id as u64, entry.position);
        let event_at = (
            event.position.transaction_id,
            event.position.global_position,
        );
        if entry_at < event_at {
            break Some(Problem::EventMissing {
                position: entry.position,
            });
        }
        if event_at < entry_at {
            break Some(Problem::EntryMissing {
                position: event.position.global_position,
            });
        }
        let stored_prev =
            hash_from_bytes(&entry.prev_hash).ok_or(VerifyError::MalformedHash(entry.seq))?;
        let stored = hash_from_bytes(&entry.hash).ok_or(VerifyError::MalformedHash(entry.seq))?;
        if stored_prev != previous || entry.seq != checked as i64 + 1 {
            break Some(Problem::ChainBroken {
                position: entry.position,
            });
        }
        if link(&previous, &event) != stored {
            break Some(Problem::EventChanged {
                position: entry.position,
            });
        }
        if let Some(column) = first_altered_column(&entry, &event) {
            break Some(Problem::EntryAltered {
                position: entry.position,
                column,
            });
        }
        if let Some((anchor_position, anchor_hash)) = anchor {
            if anchor_position == entry.position {
                if anchor_hash != stored {
                    break Some(Problem::AnchorMismatch {
                        position: entry.position,
                    });
                }
                anchor_seen = true;
            }
        }
        previous = stored;
        checked += 1;
        head = Some((entry.position, stored));
        if checked % 1000 == 0 {
            progress(checked);
        }
        next_event = events.try_next().await?;
        next_entry = entries.try_next().await?;
    };
    // A chain that ends before the anchor is consistent in itself: only the anchor can tell
    // that entries were cut off.
    let problem = problem.or_else(|| match anchor {
        Some((position, _)) if !anchor_seen => Some(Problem::AnchorNotFound {
            position,
            head: head.map(|(at, _)| at),
        }),
        _ => None,
    });
    progress(checked);
    Ok(Report {
        entries_checked: checked,
        head,
        problem,
    })
}

/// The chain's head: the last entry's position and hash.
pub async fn head(pool: &PgPool) -> Result<Option<(i64, i64, ChainHash)>, VerifyError> {
    let row: Option<(i64, i64, Vec<u8>)> =
        sqlx::query_as("SELECT seq, position, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(pool)
            .await?;
    row.map(|(seq, position, hash)| {
        hash_from_bytes(&hash)
            .map(|hash| (seq, position, hash))
            .ok_or(VerifyError::MalformedHash(seq))
    })
    .transpose()
}
