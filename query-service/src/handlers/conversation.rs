//! `GET /api/messages/conversation/{user}`: the visible thread with one user, pages going back.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
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
use crate::handlers::{micros, participants, sent::after};
use crate::params::{split_page, ListParams};
use crate::sql;
use crate::state::QueryState;

/// `GET /api/messages/conversation/{user}` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConversationResponse {
    pub with: String,
    /// Oldest first within the page; `next_cursor` pages to older messages.
    pub messages: Vec<ThreadMessage>,
    pub next_cursor: Option<String>,
}

/// A message of a thread.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ThreadMessage {
    pub message_id: Uuid,
    pub sender: String,
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

/// The caller's visible messages with `user`, either way. Reading is not marking as read.
#[utoipa::path(get, path = "/api/messages/conversation/{user}", tag = "queries",
    params(
        ("user" = String, Path, pattern = "^[a-z0-9_.-]{1,64}$", description = "the other participant"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "page size, 1 to 100 (default 20)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("X-Consistency-Token" = Option<String>, Header,
            description = "wait (up to CONSISTENCY_WAIT_MS, then 503) until this command's effect is visible")),
    responses((status = 200, description = "The thread, oldest first within the page; `next_cursor` pages to older messages.",
            body = ConversationResponse),
        (status = 400, body = http_edge::ErrorBody, description = "`invalid_input`: a limit outside 1 to 100, a cursor not from this list, or a malformed X-Consistency-Token."),
        (status = 404, body = http_edge::ErrorBody, description = "`not_found`: no such user.")))]
pub async fn get_conversation(
    State(state): State<QueryState>,
    caller: Caller,
    user: Result<Path<String>, PathRejection>,
    params: ListParams,
    headers: HeaderMap,
) -> Result<ApiJson<ConversationResponse>, ApiError> {
    let unknown = || ApiError::NotFound("no such user".into());
    let Path(with) = user.map_err(|_| unknown())?;
    let limit = params.limit()?;
    let me = caller.username.as_str();
    let scope = Scope {
        endpoint: "conversation",
        caller: me,
        context: &with,
    };
    let (after_at, after_id) = after(&state, &scope, params.cursor())?;
    if !events::limits::is_valid_username(&with) {
        return Err(unknown());
    }
    let client = state.read_for(&headers, &[Projection::Mailbox]).await?;
    let user = client.prepare_cached(sql::USER).await.map_err(db_error)?;
    if client
        .query_opt(&user, &[&with])
        .await
        .map_err(db_error)?
        .is_none()
    {
        return Err(unknown());
    }
    let statement = client
        .prepare_cached(sql::CONVERSATION)
        .await
        .map_err(db_error)?;
    let rows = client
        .query(
            &statement,
            &[&me, &with, &after_at, &after_id, &(limit + 1)],
        )
        .await
        .map_err(db_error)?;
    let (rows, more) = split_page(rows, limit);
    let mut messages = Vec::with_capacity(rows.len());
    for row in &rows {
        let direction: String = col(row, 1)?;
        let (sender, recipient) = participants(me, &with, &direction);
        let read_at: Option<DateTime<Utc>> = col(row, 6)?;
        messages.push(ThreadMessage {
            message_id: col(row, 0)?,
            sender,
            recipient,
            subject: col(row, 2)?,
            content: col(row, 3)?,
            parent_message_id: col(row, 4)?,
            sent_at: col(row, 5)?,
            is_read: read_at.is_some(),
            read_at,
            erased_at: col(row, 7)?,
        });
    }
    // Fetched newest first; the page reads oldest first and its cursor points further back.
    let next_cursor = match messages.last() {
        Some(oldest) if more => Some(
            state
                .cursors()
                .seal(&scope, &(micros(oldest.sent_at), oldest.message_id))?,
        ),
        _ => None,
    };
    messages.reverse();
    state.record_read(
        &caller,
        Read {
            counterpart: Some(with.clone()),
            ..Read::of(
                "conversation_viewed",
                messages.iter().map(|m| m.message_id).collect(),
            )
        },
    )?;
    Ok(ApiJson(ConversationResponse {
        with,
        messages,
        next_cursor,
    }))
}
