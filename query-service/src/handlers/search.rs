//! `GET /api/messages/search?q=`: full-text search over the caller's visible messages.

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

/// `GET /api/messages/search` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchResponse {
    pub results: Vec<SearchHit>,
    pub next_cursor: Option<String>,
}

/// A matching message.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchHit {
    pub message_id: Uuid,
    pub sender: String,
    pub recipient: String,
    pub subject: Option<String>,
    /// HTML: the content around the matches, escaped, with matches in `<mark>..</mark>`.
    pub snippet: String,
    pub sent_at: DateTime<Utc>,
}

/// Escapes the snippet for HTML and turns the highlight markers into `<mark>`.
pub(crate) fn snippet_html(raw: &str) -> String {
    let mut html = String::with_capacity(raw.len() + 16);
    for c in raw.chars() {
        match c {
            '\u{1}' => html.push_str("<mark>"),
            '\u{2}' => html.push_str("</mark>"),
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '"' => html.push_str("&quot;"),
            '\'' => html.push_str("&#39;"),
            other => html.push(other),
        }
    }
    html
}

/// The caller's visible messages whose subject or content match every word (prefixes and
/// stems match), best match first, then newest.
#[utoipa::path(get, path = "/api/messages/search", tag = "queries",
    params(
        ("q" = String, Query, min_length = 1, max_length = 200, description = "1 to 200 characters, not blank"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "page size, 1 to 100 (default 20)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("X-Consistency-Token" = Option<String>, Header,
            description = "wait (up to CONSISTENCY_WAIT_MS, then 503) until this command's effect is visible")),
    responses((status = 200, description = "Matches, best first, then newest.", body = SearchResponse),
        (status = 400, body = http_edge::ErrorBody, description = "`invalid_input`: `q` missing, blank or over 200 characters, a limit \
            outside 1 to 100, a cursor not from this search, or a malformed X-Consistency-Token.")))]
pub async fn search_messages(
    State(state): State<QueryState>,
    caller: Caller,
    params: ListParams,
    headers: HeaderMap,
) -> Result<ApiJson<SearchResponse>, ApiError> {
    let q = params.search_text()?;
    let limit = params.limit()?;
    let me = caller.username.as_str();
    let scope = Scope {
        endpoint: "search",
        caller: me,
        context: q,
    };
    let (after_rank, after_at, after_id) = match params.cursor() {
        Some(c) => {
            let (rank, at, id): (f32, i64, Uuid) = state.cursors().open(&scope, c)?;
            (rank, from_micros(at)?, id)
        }
        None => (f32::INFINITY, first_page_at(), Uuid::max()),
    };
    let client = state.read_for(&headers, &[Projection::Mailbox]).await?;
    let statement = client.prepare_cached(sql::SEARCH).await.map_err(db_error)?;
    let rows = client
        .query(
            &statement,
            &[&me, &q, &after_rank, &after_at, &after_id, &(limit + 1)],
        )
        .await
        .map_err(db_error)?;
    let (rows, more) = split_page(rows, limit);
    let mut results = Vec::with_capacity(rows.len());
    let mut last = None;
    for row in &rows {
        let direction: String = col(row, 1)?;
        let counterpart: String = col(row, 2)?;
        let (sender, recipient) = participants(me, &counterpart, &direction);
        let hit = SearchHit {
            message_id: col(row, 0)?,
            sender,
            recipient,
            subject: col(row, 3)?,
            sent_at: col(row, 4)?,
            snippet: snippet_html(&col::<String>(row, 6)?),
        };
        last = Some((col::<f32>(row, 5)?, micros(hit.sent_at), hit.message_id));
        results.push(hit);
    }
    let next_cursor = match last {
        Some(position) if more => Some(state.cursors().seal(&scope, &position)?),
        _ => None,
    };
    // The query's length only: its words could be clinical content.
    state.record_read(
        &caller,
        Read {
            query_length: Some(q.chars().count()),
            ..Read::of("search", results.iter().map(|r| r.message_id).collect())
        },
    )?;
    Ok(ApiJson(SearchResponse {
        results,
        next_cursor,
    }))
}

#[cfg(test)]
mod tests {
    use super::snippet_html;

    #[test]
    fn snippets_are_escaped_except_for_the_marks() {
        assert_eq!(
            snippet_html("a <script>&\"' \u{1}budget\u{2}"),
            "a &lt;script&gt;&amp;&quot;&#39; <mark>budget</mark>"
        );
    }
}
