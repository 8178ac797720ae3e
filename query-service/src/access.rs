//! The access log of the query side: before a read's answer leaves, one entry saying who read
//! which messages (never what they contain, never a search's text), handed to the
//! [`audit::access::AccessLogger`] without waiting on the database. A read whose entry cannot
//! even be buffered is not answered (503) unless `ACCESS_LOG_ON_FAILURE=serve`.

use audit::access::AccessEntry;
use chrono::Utc;
use http_edge::{ApiError, Caller};
use uuid::Uuid;

use crate::state::QueryState;

/// What one answered read showed.
#[derive(Debug)]
pub(crate) struct Read {
    /// `conversation_viewed`, `search`, `inbox_listed`, `sent_listed`, `patients_listed`, `triage_viewed`,
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
    /// Whose messages the answer disclosed to a reader who is not their participant (an
    /// admin's list of hidden messages, an auditor's view of the trail): the participants of
    /// those messages. Empty for a participant's own reads.
    pub subjects: Vec<String>,
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
            subjects: Vec::new(),
        }
    }

    /// The same read, disclosing the messages of `subjects` (sorted, each once; the reader
    /// left out).
    pub fn disclosing(mut self, reader: &str, subjects: impl IntoIterator<Item = String>) -> Self {
        let mut subjects: Vec<String> = subjects.into_iter().filter(|s| s != reader).collect();
        subjects.sort_unstable();
        subjects.dedup();
        self.subjects = subjects;
        self
    }
}

fn clamp(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl QueryState {
    /// Records `read` by `caller` when an access logger is configured. Never waits on the
    /// database; when the entry cannot be buffered, 503 `unavailable` (under
    /// `ACCESS_LOG_ON_FAILURE=refuse`) so that no read is answered unrecorded.
    pub(crate) fn record_read(&self, caller: &Caller, read: Read) -> Result<(), ApiError> {
        let Some((logger, on_failure)) = self.access_log() else {
            return Ok(());
        };
        let entry = AccessEntry {
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
            subjects: read.subjects,
        };
        logger
            .record(entry, on_failure)
            .map_err(|_| ApiError::Unavailable)
    }
}
