//! An event as the log stores it, and its decoding into the domain's events.

use chrono::{DateTime, Utc};
use events::{
    ArchiveEvent, BlockEvent, LogPosition, MessageEvent, ScheduledEvent, TemplateEvent,
    AGGREGATE_TYPE, ARCHIVE_AGGREGATE_TYPE, BLOCK_AGGREGATE_TYPE, SCHEDULED_AGGREGATE_TYPE,
    TEMPLATE_AGGREGATE_TYPE,
};
use serde::de::DeserializeOwned;
use sqlx::postgres::PgRow;
use sqlx::Row;

use crate::error::LogError;

/// Event versions this projector reads (an older one would be upcast here, never rewritten).
const READABLE_VERSIONS: &[&str] = &["1.0"];

/// One row of `events`, with its commit-order position.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub position: LogPosition,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: serde_json::Value,
    /// What the command side recorded about the command: `actor`, `request_id`, `client_ip`,
    /// `user_agent`, `correlation_id`.
    pub metadata: serde_json::Value,
    pub event_id: uuid::Uuid,
    pub recorded_at: DateTime<Utc>,
}

/// `events` with the sealed ones opened by this process's keys (their keys read in one
/// statement on `conn`): the plain payload and version, or blanks where the message was erased.
/// Borrowed as they are when none is sealed.
pub async fn open_sealed<'e>(
    conn: &mut sqlx::PgConnection,
    events: &'e [StoredEvent],
) -> Result<std::borrow::Cow<'e, [StoredEvent]>, LogError> {
    if !vault::any_sealed(events) {
        return Ok(std::borrow::Cow::Borrowed(events));
    }
    let mut opened = events.to_vec();
    vault::process()?
        .open_events(&mut *conn, &mut opened)
        .await?;
    Ok(std::borrow::Cow::Owned(opened))
}

impl vault::LoggedEvent for StoredEvent {
    fn version(&self) -> &str {
        &self.event_version
    }

    fn parts(&mut self) -> vault::EventParts<'_> {
        vault::EventParts {
            event_type: &self.event_type,
            version: &mut self.event_version,
            payload: &mut self.payload,
        }
    }
}

/// Parses an `xid8` read as text.
pub fn parse_xid(text: &str) -> Result<u64, LogError> {
    text.parse()
        .map_err(|_| LogError::BadTransactionId(text.to_owned()))
}

impl StoredEvent {
    /// Reads a row selected with the columns of [`crate::log`]'s queries.
    pub fn from_row(row: &PgRow) -> Result<Self, LogError> {
        let xid: String = row.try_get("xid")?;
        Ok(Self {
            position: LogPosition {
                transaction_id: parse_xid(&xid)?,
                global_position: row.try_get("global_position")?,
            },
            aggregate_type: row.try_get("aggregate_type")?,
            aggregate_id: row.try_get("aggregate_id")?,
            sequence: row.try_get("sequence")?,
            event_type: row.try_get("event_type")?,
            event_version: row.try_get("event_version")?,
            payload: row.try_get("payload")?,
            metadata: row.try_get("metadata")?,
            event_id: row.try_get("event_id")?,
            recorded_at: row.try_get("recorded_at")?,
        })
    }

    fn unreadable(&self, reason: impl Into<String>) -> LogError {
        LogError::UnreadableEvent {
            position: self.position,
            event_type: self.event_type.clone(),
            event_version: self.event_version.clone(),
            reason: reason.into(),
        }
    }

    /// The domain event, or `None` for another aggregate type (which no projection reads).
    /// An unknown version or a payload that does not match its type is an error: the projector
    /// stops there rather than skip it.
    pub fn message_event(&self) -> Result<Option<MessageEvent>, LogError> {
        self.decode(AGGREGATE_TYPE, MessageEvent::name)
    }

    /// A clinician's template event, or `None` for another aggregate type.
    pub fn template_event(&self) -> Result<Option<TemplateEvent>, LogError> {
        self.decode(TEMPLATE_AGGREGATE_TYPE, TemplateEvent::name)
    }

    /// A scheduled message's event, or `None` for another aggregate type.
    pub fn scheduled_event(&self) -> Result<Option<ScheduledEvent>, LogError> {
        self.decode(SCHEDULED_AGGREGATE_TYPE, ScheduledEvent::name)
    }

    /// A block's event, or `None` for another aggregate type.
    pub fn block_event(&self) -> Result<Option<BlockEvent>, LogError> {
        self.decode(BLOCK_AGGREGATE_TYPE, BlockEvent::name)
    }

    /// A conversation archive request, or `None` for another aggregate type.
    pub fn archive_event(&self) -> Result<Option<ArchiveEvent>, LogError> {
        self.decode(ARCHIVE_AGGREGATE_TYPE, ArchiveEvent::name)
    }

    fn decode<E: DeserializeOwned>(
        &self,
        aggregate_type: &str,
        name: fn(&E) -> &'static str,
    ) -> Result<Option<E>, LogError> {
        if self.aggregate_type != aggregate_type {
            return Ok(None);
        }
        if !READABLE_VERSIONS.contains(&self.event_version.as_str()) {
            return Err(self.unreadable("unknown event version"));
        }
        let event: E = serde_json::from_value(self.payload.clone())
            .map_err(|e| self.unreadable(e.to_string()))?;
        if name(&event) != self.event_type {
            return Err(self.unreadable(format!("payload is a {}", name(&event))));
        }
        Ok(Some(event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(event_type: &str, version: &str, payload: serde_json::Value) -> StoredEvent {
        StoredEvent {
            position: LogPosition::START,
            aggregate_type: AGGREGATE_TYPE.into(),
            aggregate_id: "x".into(),
            sequence: 1,
            event_type: event_type.into(),
            event_version: version.into(),
            payload,
            metadata: serde_json::Value::Null,
            event_id: uuid::Uuid::nil(),
            recorded_at: Utc::now(),
        }
    }

    #[test]
    fn events_of_unknown_versions_or_mismatched_types_are_errors() -> Result<(), serde_json::Error>
    {
        let read = MessageEvent::MessageRead {
            message_id: uuid::Uuid::nil(),
            sender: "a".into(),
            recipient: "b".into(),
            read_at: Utc::now(),
        };
        let payload = serde_json::to_value(&read)?;
        assert!(matches!(
            stored("MessageRead", "1.0", payload.clone()).message_event(),
            Ok(Some(_))
        ));
        assert!(stored("MessageRead", "9.0", payload.clone())
            .message_event()
            .is_err());
        assert!(stored("MessageSent", "1.0", payload)
            .message_event()
            .is_err());
        let mut other = stored("Whatever", "1.0", serde_json::Value::Null);
        other.aggregate_type = "other".into();
        assert!(matches!(other.message_event(), Ok(None)));
        Ok(())
    }
}
