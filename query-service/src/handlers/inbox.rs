//! `GET /api/messages/inbox`: one entry per counterpart, most recent activity first.

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
use crate::handlers::{first_page_at, from_micros, micros, participants};
use crate::params::{split_page, ListParams};
use crate::sql;
use crate::state::QueryState;

/// `GET /api/messages/inbox` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InboxResponse {
    pub conversations: Vec<ConversationSummary>,
    pub total_unread: i64,
    pub next_cursor: Option<String>,
}

/// One conversation of the inbox.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConversationSummary {
    pub with: String,
    pub with_role: String,
    pub display_name: String,
    pub last_message: LastMessage,
    pub unread_count: i64,
    pub last_activity_at: DateTime<Utc>,
}

/// The newest message of a conversation that the caller can see.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LastMessage {
    pub message_id: Uuid,
    pub sender: String,
    pub subject: Option<String>,
    /// The first 100 characters of the content.
    pub preview: String,
    pub sent_at: DateTime<Utc>,
    /// When an administrator erased it (subject and content are then blank); null otherwise.
    pub erased_at: Option<DateTime<Utc>>,
}

/// A cursor belongs to one caller and one choice of filters.
fn scope<'a>(caller: &'a str, filters: &'a str) -> Scope<'a> {
    Scope {
        endpoint: "inbox",
        caller,
        context: filters,
    }
}

/// The caller's conversations.
#[utoipa::path(get, path = "/api/messages/inbox", tag = "queries",
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "page size, 1 to 100 (default 20)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page (with the same filters)"),
        ("archived" = Option<bool>, Query, description = "true: only archived conversations; false (default): only the others"),
        ("unread_only" = Option<bool>, Query, description = "true: only conversations with unread messages (default false)"),
        ("X-Consistency-Token" = Option<String>, Header,
            description = "wait (up to CONSISTENCY_WAIT_MS, then 503) until this command's effect is visible")),
    responses((status = 200, description = "One entry per counterpart, most recent activity first.", body = InboxResponse),
        (status = 400, body = http_edge::ErrorBody, description = "`invalid_input`: a limit outside 1 to 100, a filter other than true or false, a cursor not from this list (or these filters), or a malformed X-Consistency-Token.")))]
pub async fn get_inbox(
    State(state): State<QueryState>,
    caller: Caller,
    params: ListParams,
    headers: HeaderMap,
) -> Result<ApiJson<InboxResponse>, ApiError> {
    let limit = params.limit()?;
    let (archived, unread_only) = (params.archived()?, params.unread_only()?);
    let filters = format!("archived={archived};unread_only={unread_only}");
    let me = caller.username.as_str();
    let (after_at, after_with) = match params.cursor() {
        Some(c) => {
            let (at, with): (i64, String) = state.cursors().open(&scope(me, &filters), c)?;
            (from_micros(at)?, with)
        }
        None => (first_page_at(), String::new()),
    };
    let client = state.read_for(&headers, &[Projection::Mailbox]).await?;
    let statement = if unread_only {
        sql::INBOX_UNREAD
    } else {
        sql::INBOX
    };
    let statement = client.prepare_cached(statement).await.map_err(db_error)?;
    let rows = client
        .query(
            &statement,
            &[&me, &after_at, &after_with, &(limit + 1), &archived],
        )
        .await
        .map_err(db_error)?;
    let unread = client.prepare_cached(sql::UNREAD).await.map_err(db_error)?;
    let total_unread: i32 = col(
        &client.query_one(&unread, &[&me]).await.map_err(db_error)?,
        0,
    )?;
    let (rows, more) = split_page(rows, limit);
    let mut conversations = Vec::with_capacity(rows.len());
    for row in &rows {
        let with: String = col(row, 0)?;
        let direction: String = col(row, 6)?;
        let (sender, _) = participants(me, &with, &direction);
        conversations.push(ConversationSummary {
            with_role: col::<Option<String>>(row, 1)?.unwrap_or_default(),
            display_name: col::<Option<String>>(row, 2)?.unwrap_or_else(|| with.clone()),
            unread_count: i64::from(col::<i32>(row, 3)?),
            last_activity_at: col(row, 4)?,
            last_message: LastMessage {
                message_id: col(row, 5)?,
                sender,
                subject: col(row, 7)?,
                preview: col(row, 8)?,
                sent_at: col(row, 9)?,
                erased_at: col(row, 10)?,
            },
            with,
        });
    }
    let next_cursor = match conversations.last() {
        Some(last) if more => Some(state.cursors().seal(
            &scope(me, &filters),
            &(micros(last.last_activity_at), &last.with),
        )?),
        _ => None,
    };
    state.record_read(
        &caller,
        Read::of(
            "inbox_listed",
            conversations
                .iter()
                .map(|c| c.last_message.message_id)
                .collect(),
        ),
    )?;
    Ok(ApiJson(InboxResponse {
        conversations,
        total_unread: i64::from(total_unread),
        next_cursor,
    }))
}
