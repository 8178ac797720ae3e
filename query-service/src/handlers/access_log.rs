//! `GET /api/audit/access`: the access log (who read which messages), filtered, oldest first.
//! Auditors and administrators only.

use axum::extract::State;
use chrono::{DateTime, Utc};
use http_edge::{ApiError, ApiJson, Caller};
use serde::{Deserialize, Serialize};
use tokio_postgres::types::ToSql;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Read;
use crate::cursor::Scope;
use crate::db::{col, db_error};
use crate::handlers::audit_filter::{require_auditor, AuditFilter, AuditQuery};
use crate::handlers::{from_micros, micros};
use crate::params::{split_page, ListParams};
use crate::sql::audit as sql;
use crate::state::QueryState;

/// `GET /api/audit/access` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccessLogResponse {
    /// Oldest first.
    pub entries: Vec<AccessLogEntry>,
    pub next_cursor: Option<String>,
}

/// One answered read.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccessLogEntry {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    /// Who read.
    pub actor: String,
    /// The reader's role.
    pub role: String,
    /// `conversation_viewed`, `search`, `inbox_listed`, `sent_listed`, `patients_listed`, `triage_viewed`,
    /// `deleted_listed`, `audit_viewed`, `access_log_viewed`.
    pub action: String,
    /// The other participant of a viewed conversation, or the user whose trail was viewed.
    pub counterpart: Option<String>,
    /// The messages the answer showed.
    pub message_ids: Vec<Uuid>,
    /// For a search: its length in characters (its text is never recorded).
    pub query_length: Option<i32>,
    pub result_count: i32,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
}

/// The statement for `filter` and its arguments, after `(id, at)`.
fn statement<'a>(
    filter: &'a AuditFilter,
    after: &'a (i64, DateTime<Utc>),
    end: &'a DateTime<Utc>,
    limit: &'a i64,
) -> (&'static str, Vec<&'a (dyn ToSql + Sync)>) {
    let (id, at) = after;
    // The time bounds: optional (null) as conditions, always set as the time index's range.
    let (from, to) = (&filter.from, &filter.to);
    let (actor, counterpart, action) = (&filter.actor, &filter.counterpart, &filter.action);
    if let Some(message_id) = &filter.message_id {
        let args: Vec<&(dyn ToSql + Sync)> =
            vec![message_id, id, actor, counterpart, action, from, to, limit];
        (sql::ACCESS_BY_MESSAGE, args)
    } else if let Some(actor) = actor {
        let args: Vec<&(dyn ToSql + Sync)> = vec![actor, id, counterpart, action, from, to, limit];
        (sql::ACCESS_BY_ACTOR, args)
    } else if let Some(counterpart) = counterpart {
        let args: Vec<&(dyn ToSql + Sync)> = vec![counterpart, id, action, from, to, limit];
        (sql::ACCESS_BY_COUNTERPART, args)
    } else if let Some(action) = action {
        (sql::ACCESS_BY_ACTION, vec![action, id, from, to, limit])
    } else if filter.timed() {
        (sql::ACCESS_BY_TIME, vec![at, id, end, limit])
    } else {
        (sql::ACCESS_ALL, vec![id, limit])
    }
}

/// Recorded reads, oldest first, filtered by reader (`actor`), `counterpart`, a message the
/// read showed (`message_id`), `action` and time. Auditors and administrators only. Reads are
/// written in batches, so the newest (under a second old) may not be listed yet.
#[utoipa::path(get, path = "/api/audit/access", tag = "administration",
    params(
        ("actor" = Option<String>, Query, pattern = "^[a-z0-9_.-]{1,64}$", description = "who read (a username)"),
        ("counterpart" = Option<String>, Query, pattern = "^[a-z0-9_.-]{1,64}$",
            description = "the other participant of a viewed conversation, or the user whose trail was viewed"),
        ("message_id" = Option<Uuid>, Query, description = "a message the read showed"),
        ("action" = Option<String>, Query, pattern = "^[a-z_]{1,64}$", description = "e.g. conversation_viewed, search"),
        ("from" = Option<String>, Query, description = "RFC 3339, inclusive"),
        ("to" = Option<String>, Query, description = "RFC 3339, exclusive"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "page size, 1 to 100 (default 20)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, description = "Entries, oldest first.", body = AccessLogResponse),
        (status = 400, body = http_edge::ErrorBody, description = "`invalid_input`: a malformed filter (username, UUID, action, \
            RFC 3339 time, `from` after `to`), limit or cursor."),
        (status = 403, body = http_edge::ErrorBody, description = "`forbidden`: auditors and administrators only.")))]
pub async fn get_access_log(
    State(state): State<QueryState>,
    caller: Caller,
    params: ListParams,
    query: AuditQuery,
) -> Result<ApiJson<AccessLogResponse>, ApiError> {
    require_auditor(&caller)?;
    let filter = query.filter()?;
    let limit = params.limit()?;
    let context = filter.context();
    let scope = Scope {
        endpoint: "access_log",
        caller: &caller.username,
        context: &context,
    };
    let after = match params.cursor() {
        Some(c) => {
            let (id, at): (i64, i64) = state.cursors().open(&scope, c)?;
            (id, from_micros(at)?)
        }
        None => (0, filter.start()),
    };
    let client = state.reads().await?;
    let fetch = limit + 1;
    let end = filter.end();
    let (text, args) = statement(&filter, &after, &end, &fetch);
    let prepared = client.prepare_cached(text).await.map_err(db_error)?;
    let rows = client.query(&prepared, &args).await.map_err(db_error)?;
    let (rows, more) = split_page(rows, limit);
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        entries.push(AccessLogEntry {
            id: col(row, 0)?,
            occurred_at: col(row, 1)?,
            actor: col(row, 2)?,
            role: col(row, 3)?,
            action: col(row, 4)?,
            counterpart: col(row, 5)?,
            message_ids: col(row, 6)?,
            query_length: col(row, 7)?,
            result_count: col(row, 8)?,
            request_id: col(row, 9)?,
            client_ip: col(row, 10)?,
        });
    }
    let next_cursor = match entries.last() {
        Some(last) if more => Some(
            state
                .cursors()
                .seal(&scope, &(last.id, micros(last.occurred_at)))?,
        ),
        _ => None,
    };
    state.record_read(
        &caller,
        Read {
            counterpart: filter.actor.clone().or_else(|| filter.counterpart.clone()),
            result_count: entries.len(),
            ..Read::of("access_log_viewed", filter.message_id.into_iter().collect())
        },
    )?;
    Ok(ApiJson(AccessLogResponse {
        entries,
        next_cursor,
    }))
}
