//! Reading the notification feed (`notifications`, written by the mailbox projection) and
//! turning its rows into the contract's SSE events.

use chrono::{DateTime, Utc};
use deadpool_postgres::Client;
use events::LogPosition;
use serde::Serialize;
use tokio_postgres::Row;
use uuid::Uuid;

// Both reads select the same columns, in this order, the last being the counterpart's current
// display name (for `message`: the sender's), looked up by primary key for each row returned.

/// Every user's notifications after `($1, $2)` and at or before `($3, $4)`, in commit order, at
/// most `$5` (the fan-out's read after each mailbox batch; `notifications_position_idx`).
pub const RANGE: &str = "SELECT n.recipient, n.transaction_id::text, n.global_position, n.kind,
        n.message_id, n.counterpart, n.at, n.total_unread,
        (SELECT u.display_name FROM users u WHERE u.username = n.counterpart)
    FROM notifications n
    WHERE (n.transaction_id, n.global_position) > ($1::text::xid8, $2)
      AND (n.transaction_id, n.global_position) <= ($3::text::xid8, $4)
    ORDER BY n.transaction_id, n.global_position
    LIMIT $5";

/// One user's (`$1`) notifications after `($2, $3)` and at or before `($4, $5)`, in commit
/// order, at most `$6` (a resumed stream's backlog; the primary key).
pub const BACKLOG: &str = "SELECT n.recipient, n.transaction_id::text, n.global_position, n.kind,
        n.message_id, n.counterpart, n.at, n.total_unread,
        (SELECT u.display_name FROM users u WHERE u.username = n.counterpart)
    FROM notifications n
    WHERE n.recipient = $1
      AND (n.transaction_id, n.global_position) > ($2::text::xid8, $3)
      AND (n.transaction_id, n.global_position) <= ($4::text::xid8, $5)
    ORDER BY n.transaction_id, n.global_position
    LIMIT $6";

/// `message` data: a message to the caller became visible.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MessageData {
    pub message_id: Uuid,
    pub sender: String,
    pub display_name: String,
    pub sent_at: DateTime<Utc>,
    pub total_unread: i32,
}

/// `read` data: a message the caller sent was read.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReadData {
    pub message_id: Uuid,
    pub reader: String,
    pub read_at: DateTime<Utc>,
}

/// `unread` data: the caller's unread total changed otherwise.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UnreadData {
    pub total_unread: i32,
}

/// What a notification says.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Message(MessageData),
    Read(ReadData),
    Unread(UnreadData),
}

/// One notification for one user.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub recipient: String,
    /// The event's position: the SSE `id`.
    pub position: LogPosition,
    pub payload: Payload,
}

impl Notification {
    /// The SSE event name.
    pub fn event_name(&self) -> &'static str {
        match self.payload {
            Payload::Message(_) => "message",
            Payload::Read(_) => "read",
            Payload::Unread(_) => "unread",
        }
    }

    /// The SSE data (JSON).
    pub fn data(&self) -> Result<String, serde_json::Error> {
        match &self.payload {
            Payload::Message(data) => serde_json::to_string(data),
            Payload::Read(data) => serde_json::to_string(data),
            Payload::Unread(data) => serde_json::to_string(data),
        }
    }
}

/// Why a feed row could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error(transparent)]
    Database(#[from] tokio_postgres::Error),
    #[error("notification at {position} is not a valid {kind}")]
    BadRow { position: String, kind: String },
}

fn from_row(row: &Row) -> Result<Notification, FeedError> {
    let xid: String = row.try_get(1)?;
    let global_position: i64 = row.try_get(2)?;
    let kind: String = row.try_get(3)?;
    let bad = || FeedError::BadRow {
        position: format!("{xid}/{global_position}"),
        kind: kind.clone(),
    };
    let transaction_id = xid.parse().map_err(|_| bad())?;
    let message_id: Option<Uuid> = row.try_get(4)?;
    let counterpart: Option<String> = row.try_get(5)?;
    let at: Option<DateTime<Utc>> = row.try_get(6)?;
    let total: Option<i32> = row.try_get(7)?;
    let display_name: Option<String> = row.try_get(8)?;
    let payload = match kind.as_str() {
        "message" => Payload::Message(MessageData {
            message_id: message_id.ok_or_else(bad)?,
            display_name: display_name
                .or_else(|| counterpart.clone())
                .ok_or_else(bad)?,
            sender: counterpart.ok_or_else(bad)?,
            sent_at: at.ok_or_else(bad)?,
            total_unread: total.ok_or_else(bad)?,
        }),
        "read" => Payload::Read(ReadData {
            message_id: message_id.ok_or_else(bad)?,
            reader: counterpart.ok_or_else(bad)?,
            read_at: at.ok_or_else(bad)?,
        }),
        "unread" => Payload::Unread(UnreadData {
            total_unread: total.ok_or_else(bad)?,
        }),
        _ => return Err(bad()),
    };
    Ok(Notification {
        recipient: row.try_get(0)?,
        position: LogPosition {
            transaction_id,
            global_position,
        },
        payload,
    })
}

/// Every user's notifications in `(after, up_to]`, at most `limit`.
pub async fn range(
    client: &Client,
    after: LogPosition,
    up_to: LogPosition,
    limit: i64,
) -> Result<Vec<Notification>, FeedError> {
    read(client, RANGE, None, after, up_to, limit).await
}

/// `user`'s notifications in `(after, up_to]`, at most `limit`.
pub async fn backlog(
    client: &Client,
    user: &str,
    after: LogPosition,
    up_to: LogPosition,
    limit: i64,
) -> Result<Vec<Notification>, FeedError> {
    read(client, BACKLOG, Some(user), after, up_to, limit).await
}

/// Runs `statement` with its parameters: the user (when it takes one), then the two bounds
/// and the limit.
async fn read(
    client: &Client,
    statement: &str,
    user: Option<&str>,
    after: LogPosition,
    up_to: LogPosition,
    limit: i64,
) -> Result<Vec<Notification>, FeedError> {
    let (after_xid, up_to_xid) = (
        after.transaction_id.to_string(),
        up_to.transaction_id.to_string(),
    );
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = Vec::with_capacity(6);
    if let Some(user) = &user {
        params.push(user);
    }
    params.extend_from_slice(&[
        &after_xid,
        &after.global_position,
        &up_to_xid,
        &up_to.global_position,
        &limit,
    ]);
    let statement = client.prepare_cached(statement).await?;
    let rows = client.query(&statement, &params).await?;
    rows.iter().map(from_row).collect()
}
