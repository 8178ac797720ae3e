//! `GET /api/messages/search-recipients?q=`: the compose form's autocomplete. Only users the
//! caller may start a message to, and for a patient only their approved clinicians and the
//! users they already talk to: patients cannot list other patients. Directory data only (no
//! message is shown), so nothing goes to the access log.

use axum::extract::State;
use axum::http::HeaderMap;
use events::Role;
use http_edge::{ApiError, ApiJson, Caller};
use read_side::Projection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::{col, db_error};
use crate::params::ListParams;
use crate::sql;
use crate::state::QueryState;

/// Most users one answer lists.
const MAX_RECIPIENTS: i64 = 20;

/// `GET /api/messages/search-recipients` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecipientsResponse {
    pub users: Vec<Recipient>,
}

/// A user the caller may write to.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Recipient {
    pub username: String,
    pub display_name: String,
    /// `patient` or `clinician`.
    pub role: String,
}

/// A LIKE pattern matching `text` anywhere: `\`, `%` and `_` stand for themselves. The statement
/// lower-cases it with the database's `lower`, as the indexed side is: Rust's lower-casing differs
/// for some letters (`İ`), and under a `C` character type the database lower-cases ASCII only.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Up to 20 users, by username, whose username or display name contains `q`
/// (case-insensitive) and to whom the caller may start a message.
#[utoipa::path(get, path = "/api/messages/search-recipients", tag = "queries",
    params(
        ("q" = String, Query, min_length = 1, max_length = 64, description = "1 to 64 characters, not blank; matched anywhere in the username or display name, case-insensitive"),
        ("X-Consistency-Token" = Option<String>, Header,
            description = "wait (up to CONSISTENCY_WAIT_MS, then 503) until this command's effect is visible")),
    responses((status = 200, description = "At most 20 users, by username: for a clinician, clinicians and their approved patients; for a patient, their approved clinicians and the users they already have a conversation with; for admins and auditors, none.", body = RecipientsResponse),
        (status = 400, body = http_edge::ErrorBody, description = "`invalid_input`: `q` missing, blank, over 64 characters or with a control character, or a malformed X-Consistency-Token.")))]
pub async fn search_recipients(
    State(state): State<QueryState>,
    caller: Caller,
    params: ListParams,
    headers: HeaderMap,
) -> Result<ApiJson<RecipientsResponse>, ApiError> {
    let q = params.recipient_text()?;
    let statement = match caller.role {
        Role::Clinician => sql::RECIPIENTS_OF_CLINICIAN,
        Role::Patient => sql::RECIPIENTS_OF_PATIENT,
        Role::Admin | Role::Auditor => {
            return Ok(ApiJson(RecipientsResponse { users: Vec::new() }));
        }
    };
    // A patient's candidates include the users of their conversations (the mailbox's).
    let client = state.read_for(&headers, &[Projection::Mailbox]).await?;
    let statement = client.prepare_cached(statement).await.map_err(db_error)?;
    let pattern = contains_pattern(q);
    let rows = client
        .query(&statement, &[&caller.username, &pattern, &MAX_RECIPIENTS])
        .await
        .map_err(db_error)?;
    let users = rows
        .iter()
        .map(|row| {
            Ok(Recipient {
                username: col(row, 0)?,
                display_name: col(row, 1)?,
                role: col(row, 2)?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(ApiJson(RecipientsResponse { users }))
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn like_metacharacters_stand_for_themselves() {
        assert_eq!(contains_pattern("ann"), "%ann%");
        assert_eq!(contains_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
