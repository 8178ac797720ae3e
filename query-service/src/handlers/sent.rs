//! `GET /api/messages/sent`: the caller's visible sent messages, newest first.

use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use http_edge::{ApiError, ApiJson, Caller};
use read_side::Projection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Read;
use crate::cursor::Scope;
use crate::db::{col, db_error};
use crate::handlers::{first_page_at, from_micros, micros};
use crate::params::{split_page, ListParams};
use crate::sql;
use crate::state::QueryState;

/// `GET /api/messages/sent` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = SentMessagesResponse)]
pub struct SentResponse {
    pub messages: Vec<SentMessage>,
    pub next_cursor: Option<String>,
}

/// A message the caller sent, with the recipient's read state.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SentMessage {
    pub message_id: Uuid,
    pub recipient: String,
    pub subject: Option<String>,
    pub content: String,
    pub parent_message_id: Option<Uuid>,
    pub sent_at: DateTime<Utc>,
    pub is_read: bool,
    pub read_at: Option<DateTime<Utc>>,
    /// When an administrator erased it (subject and content are then blank); null otherwise.
    pub erased_at: Option<DateTime<Utc>>,
}

/// The first page, or the one after a cursor: `(sent_at, message_id)`.
pub(crate) fn after(
    state: &QueryState,
    scope: &Scope<'_>,
    cursor: Option<&str>,
) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    match cursor {
        Some(c) => {
            let (at, id): (i64, Uuid) = state.cursors().open(scope, c)?;
            Ok((from_micros(at)?, id))
        }
        None => Ok((first_page_at(), Uuid::max())),
    }
}

/// Messages the caller sent and has not deleted.
#[utoipa::path(get, path = "/api/messages/sent", tag = "queries",
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "page size, 1 to 100 (default 20)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("X-Consistency-Token" = Option<String>, Header,
            description = "wait (up to CONSISTENCY_WAIT_MS, then 503) until this command's effect is visible")),
    responses((status = 200, description = "The caller's visible sent messages, newest first.", body = SentResponse),
        (status = 400, body = http_edge::ErrorBody, description = "`invalid_input`: a limit outside 1 to 100, a cursor not from this list, or a malformed X-Consistency-Token.")))]
pub async fn get_sent(
    State(state): State<QueryState>,
    caller: Caller,
    params: ListParams,
    headers: HeaderMap,
) -> Result<ApiJson<SentResponse>, ApiError> {
    let limit = params.limit()?;
    let me = caller.username.as_str();
    let scope = Scope {
        endpoint: "sent",
        caller: me,
        context: "",
    };
    let (after_at, after_id) = after(&state, &scope, params.cursor())?;
    let client = state.read_for(&headers, &[Projection::Mailbox]).await?;
    let statement = client.prepare_cached(sql::SENT).await.map_err(db_error)?;
    let rows = client
        .query(&statement, &[&me, &after_at, &after_id, &(limit + 1)])
        .await
        .map_err(db_error)?;
    let (rows, more) = split_page(rows, limit);
    let mut messages = Vec::with_capacity(rows.len());
    for row in &rows {
        let read_at: Option<DateTime<Utc>> = col(row, 6)?;
        messages.push(SentMessage {
            message_id: col(row, 0)?,
            recipient: col(row, 1)?,
            subject: col(row, 2)?,
            content: col(row, 3)?,
            parent_message_id: col(row, 4)?,
            sent_at: col(row, 5)?,
            is_read: read_at.is_some(),
            read_at,
            erased_at: col(row, 7)?,
        });
    }
    let next_cursor = match messages.last() {
        Some(last) if more => Some(
            state
                .cursors()
                .seal(&scope, &(micros(last.sent_at), last.message_id))?,
        ),
        _ => None,
    };
    state.record_read(
        &caller,
        Read::of(
            "sent_listed",
            messages.iter().map(|m| m.message_id).collect(),
        ),
    )?;
    Ok(ApiJson(SentResponse {
        messages,
        next_cursor,
    }))
}
