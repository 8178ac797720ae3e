//! `GET /api/me/access-log`: a patient's accounting of disclosures — every read of their
//! messages by someone other than them and the message's counterpart (an admin listing hidden
//! messages, an auditor viewing the trail), newest first, from the hash-chained access log.

use axum::extract::State;
use chrono::{DateTime, Utc};
use events::Role;
use http_edge::{ApiError, ApiJson, Caller};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Read;
use crate::cursor::Scope;
use crate::db::{col, db_error};
use crate::params::{split_page, ListParams};
use crate::sql;
use crate::state::QueryState;

/// `GET /api/me/access-log` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DisclosuresResponse {
    pub entries: Vec<Disclosure>,
    pub next_cursor: Option<String>,
}

/// One read of the caller's messages by someone else than their counterpart.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Disclosure {
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub role: String,
    /// What they did (`deleted_listed`: an administrator listed hidden messages;
    /// `audit_viewed`: an auditor viewed the audit trail).
    pub action: String,
    /// The caller's messages among those read.
    pub message_ids: Vec<Uuid>,
}

/// Who, other than the caller and their counterparts, read the caller's messages.
#[utoipa::path(get, path = "/api/me/access-log", tag = "records rights",
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "page size, 1 to 100 (default 20)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, description = "The accounting of disclosures, newest first.", body = DisclosuresResponse),
        (status = 400, body = http_edge::ErrorBody, description = "`invalid_input`: a limit outside 1 to 100 or a cursor not from this list."),
        (status = 403, body = http_edge::ErrorBody, description = "`forbidden`: patients only.")))]
pub async fn get_disclosures(
    State(state): State<QueryState>,
    caller: Caller,
    params: ListParams,
) -> Result<ApiJson<DisclosuresResponse>, ApiError> {
    if caller.role != Role::Patient {
        return Err(ApiError::Forbidden(
            "the accounting of disclosures is a patient's".into(),
        ));
    }
    let limit = params.limit()?;
    let me = caller.username.as_str();
    let scope = Scope {
        endpoint: "disclosures",
        caller: me,
        context: "",
    };
    let before: i64 = match params.cursor() {
        Some(c) => state.cursors().open(&scope, c)?,
        None => i64::MAX,
    };
    let client = state.reads().await?;
    let statement = client
        .prepare_cached(sql::DISCLOSURES)
        .await
        .map_err(db_error)?;
    let rows = client
        .query(&statement, &[&me, &before, &(limit + 1)])
        .await
        .map_err(db_error)?;
    let (rows, more) = split_page(rows, limit);
    let mut entries = Vec::with_capacity(rows.len());
    let mut last = None;
    for row in &rows {
        last = Some(col::<i64>(row, 0)?);
        entries.push(Disclosure {
            occurred_at: col(row, 1)?,
            actor: col(row, 2)?,
            role: col(row, 3)?,
            action: col(row, 4)?,
            message_ids: col(row, 5)?,
        });
    }
    let next_cursor = match last {
        Some(seq) if more => Some(state.cursors().seal(&scope, &seq)?),
        _ => None,
    };
    state.record_read(
        &caller,
        Read {
            result_count: entries.len(),
            ..Read::of("disclosures_viewed", Vec::new())
        },
    )?;
    Ok(ApiJson(DisclosuresResponse {
        entries,
        next_cursor,
    }))
}
