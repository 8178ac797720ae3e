//! `GET /api/messages/templates`: a clinician's templates; `GET /api/messages/scheduled`: the
//! caller's scheduled messages; `GET /api/messages/blocked`: whom the caller blocks (the
//! `composer` projection).

use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use events::Role;
use http_edge::{ApiError, ApiJson, Caller};
use read_side::Projection;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Read;
use crate::cursor::Scope;
use crate::db::db_error;
use crate::handlers::{from_micros, micros};
use crate::params::{split_page, ListParams};
use crate::sql;
use crate::state::QueryState;

/// `GET /api/messages/templates` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TemplatesResponse {
    pub templates: Vec<Template>,
}

/// One of the caller's templates.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Template {
    pub template_id: Uuid,
    pub title: String,
    pub subject: Option<String>,
    pub content: String,
    pub updated_at: DateTime<Utc>,
}

/// The calling clinician's templates, by title (case-insensitive).
#[utoipa::path(get, path = "/api/messages/templates", tag = "clinician tools",
    params(("X-Consistency-Token" = Option<String>, Header,
        description = "wait (up to CONSISTENCY_WAIT_MS, then 503) until this command's effect is visible")),
    responses((status = 200, description = "The caller's templates, by title.", body = TemplatesResponse),
        (status = 400, body = http_edge::ErrorBody, description = "`invalid_input`: a malformed X-Consistency-Token."),
        (status = 403, body = http_edge::ErrorBody, description = "`forbidden`: clinicians only.")))]
pub async fn get_templates(
    State(state): State<QueryState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<ApiJson<TemplatesResponse>, ApiError> {
    if caller.role != Role::Clinician {
        return Err(ApiError::Forbidden("only clinicians keep templates".into()));
    }
    let client = state.read_for(&headers, &[Projection::Composer]).await?;
    let statement = client
        .prepare_cached(sql::TEMPLATES)
        .await
        .map_err(db_error)?;
    let rows = client
        .query(&statement, &[&caller.username])
        .await
        .map_err(db_error)?;
    let templates = rows
        .iter()
        .map(template)
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_error)?;
    state.record_read(
        &caller,
        Read {
            result_count: templates.len(),
            ..Read::of("templates_listed", Vec::new())
        },
    )?;
    Ok(ApiJson(TemplatesResponse { templates }))
}

/// `GET /api/messages/scheduled` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScheduledResponse {
    pub scheduled: Vec<ScheduledEntry>,
    pub next_cursor: Option<String>,
}

/// One of the caller's scheduled messages.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScheduledEntry {
    pub scheduled_id: Uuid,
    pub recipient: String,
    pub subject: Option<String>,
    pub content: String,
    pub send_at: DateTime<Utc>,
    /// `pending`, `sent`, `cancelled` or `failed`.
    pub status: String,
    /// The delivered message (when `sent`).
    pub message_id: Option<Uuid>,
    /// Why it could not be delivered (when `failed`).
    pub failure: Option<String>,
}

/// The caller's scheduled messages, `send_at` ascending, whatever their status.
#[utoipa::path(get, path = "/api/messages/scheduled", tag = "clinician tools",
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "page size, 1 to 100 (default 20)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("X-Consistency-Token" = Option<String>, Header,
            description = "wait (up to CONSISTENCY_WAIT_MS, then 503) until this command's effect is visible")),
    responses((status = 200, description = "The caller's scheduled messages, `send_at` ascending.", body = ScheduledResponse),
        (status = 400, body = http_edge::ErrorBody, description = "`invalid_input`: a limit outside 1 to 100, a cursor not from this list, or a malformed X-Consistency-Token.")))]
pub async fn get_scheduled(
    State(state): State<QueryState>,
    caller: Caller,
    params: ListParams,
    headers: HeaderMap,
) -> Result<ApiJson<ScheduledResponse>, ApiError> {
    let limit = params.limit()?;
    let me = caller.username.as_str();
    let scope = Scope {
        endpoint: "scheduled",
        caller: me,
        context: "",
    };
    let (after_at, after_id) = match params.cursor() {
        Some(c) => {
            let (at, id): (i64, Uuid) = state.cursors().open(&scope, c)?;
            (from_micros(at)?, id)
        }
        // Before every `send_at` (all are after the schedule's own time).
        None => (DateTime::<Utc>::UNIX_EPOCH, Uuid::nil()),
    };
    let client = state.read_for(&headers, &[Projection::Composer]).await?;
    let statement = client
        .prepare_cached(sql::SCHEDULED)
        .await
        .map_err(db_error)?;
    let rows = client
        .query(&statement, &[&me, &after_at, &after_id, &(limit + 1)])
        .await
        .map_err(db_error)?;
    let (rows, more) = split_page(rows, limit);
    let scheduled = rows
        .iter()
        .map(scheduled_entry)
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_error)?;
    let next_cursor = match scheduled.last() {
        Some(last) if more => Some(
            state
                .cursors()
                .seal(&scope, &(micros(last.send_at), last.scheduled_id))?,
        ),
        _ => None,
    };
    state.record_read(
        &caller,
        Read {
            result_count: scheduled.len(),
            ..Read::of("scheduled_listed", Vec::new())
        },
    )?;
    Ok(ApiJson(ScheduledResponse {
        scheduled,
        next_cursor,
    }))
}

/// `GET /api/messages/blocked` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BlockedResponse {
    pub blocked: Vec<BlockedUser>,
}

/// A user the caller blocks.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BlockedUser {
    pub username: String,
    pub display_name: String,
    pub blocked_at: DateTime<Utc>,
}

/// The users the caller blocks, the most recent block first.
#[utoipa::path(get, path = "/api/messages/blocked", tag = "patient controls",
    params(("X-Consistency-Token" = Option<String>, Header,
        description = "wait (up to CONSISTENCY_WAIT_MS, then 503) until this command's effect is visible")),
    responses((status = 200, description = "Whom the caller blocks, the most recent first.", body = BlockedResponse),
        (status = 400, body = http_edge::ErrorBody, description = "`invalid_input`: a malformed X-Consistency-Token.")))]
pub async fn get_blocked(
    State(state): State<QueryState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<ApiJson<BlockedResponse>, ApiError> {
    let client = state.read_for(&headers, &[Projection::Composer]).await?;
    let statement = client
        .prepare_cached(sql::BLOCKED)
        .await
        .map_err(db_error)?;
    let rows = client
        .query(&statement, &[&caller.username])
        .await
        .map_err(db_error)?;
    let blocked = rows
        .iter()
        .map(blocked_user)
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_error)?;
    Ok(ApiJson(BlockedResponse { blocked }))
}

/// One row of [`sql::TEMPLATES`] (also the export's).
pub(crate) fn template(row: &Row) -> Result<Template, tokio_postgres::Error> {
    Ok(Template {
        template_id: row.try_get(0)?,
        title: row.try_get(1)?,
        subject: row.try_get(2)?,
        content: row.try_get(3)?,
        updated_at: row.try_get(4)?,
    })
}

/// One row of [`sql::SCHEDULED`] or [`sql::EXPORT_SCHEDULED`].
pub(crate) fn scheduled_entry(row: &Row) -> Result<ScheduledEntry, tokio_postgres::Error> {
    Ok(ScheduledEntry {
        scheduled_id: row.try_get(0)?,
        recipient: row.try_get(1)?,
        subject: row.try_get(2)?,
        content: row.try_get(3)?,
        send_at: row.try_get(4)?,
        status: row.try_get(5)?,
        message_id: row.try_get(6)?,
        failure: row.try_get(7)?,
    })
}

/// One row of [`sql::BLOCKED`] (also the export's).
pub(crate) fn blocked_user(row: &Row) -> Result<BlockedUser, tokio_postgres::Error> {
    Ok(BlockedUser {
        username: row.try_get(0)?,
        display_name: row.try_get(1)?,
        blocked_at: row.try_get(2)?,
    })
}
