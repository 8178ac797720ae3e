//! `GET /api/audit/log`: the audit trail (one entry per event of the log), filtered, oldest
//! first. Auditors and administrators only.

use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use http_edge::{ApiError, ApiJson, Caller};
use read_side::Projection;
use serde::{Deserialize, Serialize};
use serde_json::Value;
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

/// `GET /api/audit/log` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditLogResponse {
    /// Oldest first.
    pub entries: Vec<AuditLogEntry>,
    pub next_cursor: Option<String>,
}

/// One recorded event: who did what to which message, when and from where (never a subject
/// or content).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditLogEntry {
    /// The event's global position in the log.
    pub position: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor: Option<String>,
    /// `message_sent`, `message_read`, `message_deleted_by_sender`,
    /// `message_deleted_by_recipient`, `message_hidden`, `message_restored`.
    pub action: String,
    pub message_id: Option<Uuid>,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    /// Non-clinical facts of the event: participants, roles, channel, parent, restorer.
    #[schema(value_type = Object)]
    pub details: Value,
}

/// The statement for `filter` and its arguments, after `(seq, at)`.
fn statement<'a>(
    filter: &'a AuditFilter,
    after: &'a (i64, DateTime<Utc>),
    end: &'a DateTime<Utc>,
    limit: &'a i64,
) -> (&'static str, Vec<&'a (dyn ToSql + Sync)>) {
    let (seq, at) = after;
    // The time bounds: optional (null) as conditions, always set as the time index's range.
    let (from, to) = (&filter.from, &filter.to);
    if let Some(message_id) = &filter.message_id {
        let args: Vec<&(dyn ToSql + Sync)> = vec![
            message_id,
            seq,
            &filter.actor,
            &filter.action,
            from,
            to,
            limit,
        ];
        (sql::LOG_BY_MESSAGE, args)
    } else if let Some(actor) = &filter.actor {
        let args: Vec<&(dyn ToSql + Sync)> = vec![actor, seq, &filter.action, from, to, limit];
        (sql::LOG_BY_ACTOR, args)
    } else if let Some(action) = &filter.action {
        (sql::LOG_BY_ACTION, vec![action, seq, from, to, limit])
    } else if filter.timed() {
        (sql::LOG_BY_TIME, vec![at, seq, end, limit])
    } else {
        (sql::LOG_ALL, vec![seq, limit])
    }
}

/// Recorded events, oldest first, filtered by actor, message, action and time (`from`
/// inclusive, `to` exclusive). Auditors and administrators only.
#[utoipa::path(get, path = "/api/audit/log", tag = "administration",
    params(
        ("actor" = Option<String>, Query, pattern = "^[a-z0-9_.-]{1,64}$", description = "who acted (a username)"),
        ("message_id" = Option<Uuid>, Query, description = "the message acted on"),
        ("action" = Option<String>, Query, pattern = "^[a-z_]{1,64}$", description = "e.g. message_sent, message_read"),
        ("from" = Option<String>, Query, description = "RFC 3339, inclusive"),
        ("to" = Option<String>, Query, description = "RFC 3339, exclusive"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "page size, 1 to 100 (default 20)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("X-Consistency-Token" = Option<String>, Header,
            description = "wait (up to CONSISTENCY_WAIT_MS, then 503) until this command's effect is visible")),
    responses((status = 200, description = "Entries, oldest first.", body = AuditLogResponse),
        (status = 400, body = http_edge::ErrorBody, description = "`invalid_input`: a malformed filter (username, UUID, action, \
            RFC 3339 time, `from` after `to`), limit, cursor or X-Consistency-Token."),
        (status = 403, body = http_edge::ErrorBody, description = "`forbidden`: auditors and administrators only.")))]
pub async fn get_audit_log(
    State(state): State<QueryState>,
    caller: Caller,
    params: ListParams,
    query: AuditQuery,
    headers: HeaderMap,
) -> Result<ApiJson<AuditLogResponse>, ApiError> {
    require_auditor(&caller)?;
    let filter = query.filter()?;
    if filter.counterpart.is_some() {
        return Err(ApiError::InvalidInput(
            "counterpart filters GET /api/audit/access only".into(),
        ));
    }
    let limit = params.limit()?;
    let context = filter.context();
    let scope = Scope {
        endpoint: "audit_log",
        caller: &caller.username,
        context: &context,
    };
    let after = match params.cursor() {
        Some(c) => {
            let (seq, at): (i64, i64) = state.cursors().open(&scope, c)?;
            (seq, from_micros(at)?)
        }
        None => (0, filter.start()),
    };
    let client = state.read_for(&headers, &[Projection::AuditLog]).await?;
    let fetch = limit + 1;
    let end = filter.end();
    let (text, args) = statement(&filter, &after, &end, &fetch);
    let prepared = client.prepare_cached(text).await.map_err(db_error)?;
    let rows = client.query(&prepared, &args).await.map_err(db_error)?;
    let (rows, more) = split_page(rows, limit);
    let mut entries = Vec::with_capacity(rows.len());
    let mut last = None;
    for row in &rows {
        let entry = AuditLogEntry {
            position: col(row, 1)?,
            occurred_at: col(row, 2)?,
            actor: col(row, 3)?,
            action: col(row, 4)?,
            message_id: col(row, 5)?,
            request_id: col(row, 6)?,
            client_ip: col(row, 7)?,
            details: col(row, 8)?,
        };
        last = Some((col::<i64>(row, 0)?, micros(entry.occurred_at)));
        entries.push(entry);
    }
    let next_cursor = match last {
        Some(position) if more => Some(state.cursors().seal(&scope, &position)?),
        _ => None,
    };
    let mut message_ids: Vec<Uuid> = entries.iter().filter_map(|e| e.message_id).collect();
    message_ids.sort_unstable();
    message_ids.dedup();
    state.record_read(
        &caller,
        Read {
            counterpart: filter.actor.clone(),
            result_count: entries.len(),
            ..Read::of("audit_viewed", message_ids)
        }
        .disclosing(
            &caller.username,
            entries.iter().flat_map(|e| {
                ["sender", "recipient", "author"]
                    .into_iter()
                    .filter_map(|k| e.details.get(k).and_then(|v| v.as_str()).map(str::to_owned))
            }),
        ),
    )?;
    Ok(ApiJson(AuditLogResponse {
        entries,
        next_cursor,
    }))
}
