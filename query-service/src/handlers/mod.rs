//! The query handlers, one module per endpoint, and what they share.

pub(crate) mod access_log;
pub(crate) mod admin;
pub(crate) mod audit_filter;
pub(crate) mod audit_log;
pub(crate) mod clinician;
pub(crate) mod composer;
pub(crate) mod conversation;
pub(crate) mod disclosures;
pub(crate) mod export;
pub(crate) mod inbox;
pub(crate) mod recipients;
pub(crate) mod search;
pub(crate) mod sent;
pub(crate) mod unread;

pub use access_log::{AccessLogEntry, AccessLogResponse};
pub use admin::{DeletedMessage, DeletedResponse};
pub use audit_log::{AuditLogEntry, AuditLogResponse};
pub use clinician::{PatientSummary, PatientsResponse, TriageEntry, TriageResponse};
pub use composer::{
    BlockedResponse, BlockedUser, ScheduledEntry, ScheduledResponse, Template, TemplatesResponse,
};
pub use conversation::{ConversationResponse, ThreadMessage};
pub use inbox::{ConversationSummary, InboxResponse, LastMessage};
pub use recipients::{Recipient, RecipientsResponse};
pub use search::{SearchHit, SearchResponse};
pub use sent::{SentMessage, SentResponse};
pub use unread::UnreadCount;

use chrono::{DateTime, NaiveDate, Utc};
use http_edge::ApiError;

/// The keyset position of the first page: after every real row.
pub(crate) fn first_page_at() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A cursor timestamp (microseconds since the epoch, PostgreSQL's precision).
pub(crate) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// The time of a cursor's microseconds; a value out of range is a bad cursor.
pub(crate) fn from_micros(micros: i64) -> Result<DateTime<Utc>, ApiError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| ApiError::InvalidInput("invalid cursor".into()))
}

/// `(sender, recipient)` of a mailbox row of `owner`.
pub(crate) fn participants(owner: &str, counterpart: &str, direction: &str) -> (String, String) {
    if direction == "sent" {
        (owner.to_owned(), counterpart.to_owned())
    } else {
        (counterpart.to_owned(), owner.to_owned())
    }
}
