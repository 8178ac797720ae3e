//! `GET /api/messages/unread-count`: the badge, one primary-key lookup.

use axum::extract::State;
use axum::http::HeaderMap;
use http_edge::{ApiError, ApiJson, Caller};
use read_side::Projection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::{col, db_error};
use crate::sql;
use crate::state::QueryState;

/// `GET /api/messages/unread-count` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UnreadCount {
    pub unread: i64,
}

/// Unread, visible messages received by the caller.
#[utoipa::path(get, path = "/api/messages/unread-count", tag = "queries",
    params(("X-Consistency-Token" = Option<String>, Header,
        description = "wait (up to CONSISTENCY_WAIT_MS, then 503) until this command's effect is visible")),
    responses((status = 200, description = "The caller's unread, visible received messages.", body = UnreadCount),
        (status = 400, body = http_edge::ErrorBody, description = "`invalid_input`: a malformed X-Consistency-Token.")))]
pub async fn get_unread_count(
    State(state): State<QueryState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<ApiJson<UnreadCount>, ApiError> {
    let client = state.read_for(&headers, &[Projection::Mailbox]).await?;
    let statement = client.prepare_cached(sql::UNREAD).await.map_err(db_error)?;
    let row = client
        .query_one(&statement, &[&caller.username])
        .await
        .map_err(db_error)?;
    Ok(ApiJson(UnreadCount {
        unread: i64::from(col::<i32>(&row, 0)?),
    }))
}
