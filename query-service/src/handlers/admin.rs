//! `GET /api/admin/messages/deleted`: hidden messages (both sides deleted), for restoring.

use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDateTime, Utc};
use events::Role;
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

/// `GET /api/admin/messages/deleted` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeletedResponse {
    pub messages: Vec<DeletedMessage>,
    pub next_cursor: Option<String>,
}

/// A hidden message (its content stays out of this list).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeletedMessage {
    pub message_id: Uuid,
    pub sender: String,
    pub recipient: String,
    pub subject: Option<String>,
    pub sent_at: DateTime<Utc>,
    pub deleted_at: DateTime<Utc>,
    /// When an administrator erased it; null otherwise.
    pub erased_at: Option<DateTime<Utc>>,
    /// Whether a legal hold exempts it from erasure and retention.
    pub held: bool,
}

/// Hidden messages, most recently hidden first. Administrators only.
#[utoipa::path(get, path = "/api/admin/messages/deleted", tag = "administration",
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "page size, 1 to 100 (default 20)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("X-Consistency-Token" = Option<String>, Header,
            description = "wait (up to CONSISTENCY_WAIT_MS, then 503) until this command's effect is visible")),
    responses((status = 200, description = "Hidden messages, most recently hidden first.", body = DeletedResponse),
        (status = 400, body = http_edge::ErrorBody, description = "`invalid_input`: a limit outside 1 to 100, a cursor not from this list, or a malformed X-Consistency-Token."),
        (status = 403, body = http_edge::ErrorBody, description = "`forbidden`: administrators only.")))]
pub async fn get_deleted_messages(
    State(state): State<QueryState>,
    caller: Caller,
    params: ListParams,
    headers: HeaderMap,
) -> Result<ApiJson<DeletedResponse>, ApiError> {
    if caller.role != Role::Admin {
        return Err(ApiError::Forbidden(
            "only administrators see hidden messages".into(),
        ));
    }
    let limit = params.limit()?;
    let scope = Scope {
        endpoint: "deleted",
        caller: &caller.username,
        context: "",
    };
    let (after_at, after_id): (NaiveDateTime, Uuid) = match params.cursor() {
        Some(c) => {
            let (at, id): (i64, Uuid) = state.cursors().open(&scope, c)?;
            (from_micros(at)?.naive_utc(), id)
        }
        None => (first_page_at().naive_utc(), Uuid::max()),
    };
    let client = state.read_for(&headers, &[Projection::Messages]).await?;
    let statement = client
        .prepare_cached(sql::DELETED)
        .await
        .map_err(db_error)?;
    let rows = client
        .query(&statement, &[&after_at, &after_id, &(limit + 1)])
        .await
        .map_err(db_error)?;
    let (rows, more) = split_page(rows, limit);
    let mut messages = Vec::with_capacity(rows.len());
    for row in &rows {
        messages.push(DeletedMessage {
            message_id: col(row, 0)?,
            sender: col(row, 1)?,
            recipient: col(row, 2)?,
            subject: col(row, 3)?,
            sent_at: col::<Option<NaiveDateTime>>(row, 4)?
                .map(|t| t.and_utc())
                .unwrap_or_default(),
            deleted_at: col::<NaiveDateTime>(row, 5)?.and_utc(),
            erased_at: col::<Option<NaiveDateTime>>(row, 6)?.map(|t| t.and_utc()),
            held: col(row, 7)?,
        });
    }
    let next_cursor = match messages.last() {
        Some(last) if more => Some(
            state
                .cursors()
                .seal(&scope, &(micros(last.deleted_at), last.message_id))?,
        ),
        _ => None,
    };
    let subjects = messages
        .iter()
        .flat_map(|m| [m.sender.clone(), m.recipient.clone()]);
    let read = Read::of(
        "deleted_listed",
        messages.iter().map(|m| m.message_id).collect(),
    )
    .disclosing(&caller.username, subjects);
    state.record_read(&caller, read)?;
    Ok(ApiJson(DeletedResponse {
        messages,
        next_cursor,
    }))
}
