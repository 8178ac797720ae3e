//! The access log of the query side: after a read is answered, one entry saying who read which
//! messages (never what they contain, never a search's text), handed to the
//! [`audit::access::AccessLogger`] without waiting.

use audit::access::AccessEntry;
use chrono::Utc;
use http_edge::Caller;
use uuid::Uuid;

use crate::state::QueryState;

/// What one answered read showed.
#[derive(Debug)]
pub(crate) struct Read {
    /// `conversation_viewed`, `search`, `inbox_listed`, `sent_listed`, `patients_listed`,
    /// `deleted_listed`, `audit_viewed`, `access_log_viewed`.
    pub action: &'static str,
    /// The other participant (a conversation), or the user whose trail an auditor looked at.
    pub counterpart: Option<String>,
    /// The messages the answer showed.
    pub message_ids: Vec<Uuid>,
    /// A search's length in characters.
    pub query_length: Option<usize>,
    /// Items in the answer (messages, conversations, patients, entries).
    pub result_count: usize,
}

impl Read {
    /// A read of `action` that showed `message_ids` and nothing else.
    pub fn of(action: &'static str, message_ids: Vec<Uuid>) -> Self {
        Self {
            action,
            counterpart: None,
            result_count: message_ids.len(),
            message_ids,
            query_length: None,
        }
    }
}

fn clamp(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl QueryState {
    /// Records `read` by `caller` when an access logger is configured. Never waits: a full
    /// buffer drops the entry (counted as `access_log_dropped_total`).
    pub(crate) fn record_read(&self, caller: &Caller, read: Read) {
        let Some(logger) = self.access_log() else {
            return;
        };
        logger.record(AccessEntry {
            occurred_at: Utc::now(),
            actor: caller.username.clone(),
            role: caller.role.as_str().to_owned(),
            action: read.action,
            counterpart: read.counterpart,
            message_ids: read.message_ids,
            query_length: read.query_length.map(clamp),
            result_count: clamp(read.result_count),
            request_id: Some(caller.client.request_id.clone()),
            client_ip: Some(caller.client.ip.to_string()),
            user_agent: caller.client.user_agent.clone(),
        });
    }
}
