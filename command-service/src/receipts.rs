//! Read receipts, deletion and restoration of existing messages.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use events::limits::check_username;
use events::{LogPosition, MessageCommand, MessageError, AGGREGATE_TYPE};
use http_edge::{ApiError, ApiJson, Caller, ErrorBody};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::batch::execute_batch;
use crate::execute::execute;
use crate::messages::{now, parse_message_id, with_token};
use crate::metadata::EventMetadata;
use crate::state::CommandState;

/// 200 answer of `PATCH /api/messages/{id}/read`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReadResponse {
    pub message_id: Uuid,
    /// Always true.
    pub is_read: bool,
    /// When the recipient first read it.
    pub read_at: DateTime<Utc>,
}

/// 200 answer of `POST /api/messages/conversation/{user}/read`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MarkedResponse {
    /// How many messages this call marked read.
    pub marked: u64,
}

/// 200 answer of a restore.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RestoredResponse {
    pub message_id: Uuid,
    pub restored_at: DateTime<Utc>,
}

/// The recipient marks a message read; a repeat keeps the first `read_at`.
#[utoipa::path(patch, path = "/api/messages/{id}/read", tag = "commands",
    params(("id" = Uuid, Path, description = "The message.")),
    responses((status = 200, description = "Read; a repeat keeps the first `read_at`.", body = ReadResponse,
            headers(("X-Consistency-Token" = String))),
        (status = 400, body = ErrorBody, description = "`invalid_input`: the id is not a UUID."),
        (status = 403, body = ErrorBody, description = "`forbidden`: only the recipient marks a message read."),
        (status = 404, body = ErrorBody, description = "`not_found`: no such message (or not visible to the caller).")))]
pub async fn mark_read(
    State(state): State<CommandState>,
    caller: Caller,
    metadata: EventMetadata,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_message_id(&id)?;
    let command = MessageCommand::MarkRead {
        message_id: id,
        reader: caller.username.clone(),
        at: now(),
    };
    let done = execute(&state, id, command, &metadata).await?;
    // Accepted, the message is read: now, or at its first read for a repeat.
    let read_at = done
        .message
        .and_then(|m| m.read_at)
        .ok_or_else(|| ApiError::internal(MessageError::UnknownMessage(id)))?;
    let body = ReadResponse {
        message_id: id,
        is_read: true,
        read_at,
    };
    Ok(with_token(done.position, ApiJson(body)))
}

/// Unread messages from `sender` to `recipient`, found in the log through the partial index on
/// `MessageSent` participants (the truth, not a read model that may lag).
async fn unread_from(
    state: &CommandState,
    sender: &str,
    recipient: &str,
) -> Result<Vec<Uuid>, ApiError> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT s.aggregate_id FROM events s
         WHERE s.event_type = 'MessageSent'
           AND s.payload -> 'MessageSent' ->> 'recipient' = $2
           AND s.payload -> 'MessageSent' ->> 'sender' = $1
           AND NOT EXISTS (SELECT 1 FROM events r
                           WHERE r.aggregate_type = $3 AND r.aggregate_id = s.aggregate_id
                             AND r.event_type IN ('MessageRead', 'MessageDeletedByRecipient'))
         ORDER BY s.global_position",
    )
    .bind(sender)
    .bind(recipient)
    .bind(AGGREGATE_TYPE)
    .fetch_all(&state.pool)
    .await?;
    Ok(ids.iter().filter_map(|id| id.parse().ok()).collect())
}

/// Marks every unread message from `{user}` to the caller read.
#[utoipa::path(post, path = "/api/messages/conversation/{user}/read", tag = "commands",
    params(("user" = String, Path, description = "The counterpart whose messages to the caller are marked.",
        pattern = "^[a-z0-9_.-]{1,64}$")),
    responses((status = 200, description = "The number of messages marked now.", body = MarkedResponse,
            headers(("X-Consistency-Token" = String))),
        (status = 400, body = ErrorBody, description = "`invalid_input`: not a username."),
        (status = 404, body = ErrorBody, description = "`not_found`: no such user.")))]
pub async fn mark_conversation_read(
    State(state): State<CommandState>,
    caller: Caller,
    metadata: EventMetadata,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    check_username(&user).map_err(ApiError::from)?;
    let found = state.directory.find_user(&user).await;
    if found.map_err(MessageError::from)?.is_none() {
        return Err(MessageError::UnknownUser(user).into());
    }
    let at = now();
    let commands: Vec<_> = unread_from(&state, &user, &caller.username)
        .await?
        .into_iter()
        .map(|id| {
            let command = MessageCommand::MarkRead {
                message_id: id,
                reader: caller.username.clone(),
                at,
            };
            (id, command)
        })
        .collect();
    // Deleted on the caller's side meanwhile: nothing to mark.
    let deleted = |err: &MessageError| matches!(err, MessageError::UnknownMessage(_));
    let batch = execute_batch(&state, "mark_read", &commands, &metadata, deleted).await?;
    let position = batch.position.unwrap_or(LogPosition::START);
    let body = MarkedResponse {
        marked: batch.changed,
    };
    Ok(with_token(position, ApiJson(body)))
}

/// Deletes the caller's side of a message; when both sides have, the message is hidden.
#[utoipa::path(delete, path = "/api/messages/{id}", tag = "commands",
    params(("id" = Uuid, Path, description = "The message.")),
    responses((status = 204, description = "Deleted on the caller's side; a repeat is 204 and records nothing.",
            headers(("X-Consistency-Token" = String))),
        (status = 400, body = ErrorBody, description = "`invalid_input`: the id is not a UUID."),
        (status = 403, body = ErrorBody, description = "`forbidden`: the caller is not a participant of the message."),
        (status = 404, body = ErrorBody, description = "`not_found`: no such message (or not visible to the caller).")))]
pub async fn delete_message(
    State(state): State<CommandState>,
    caller: Caller,
    metadata: EventMetadata,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_message_id(&id)?;
    let command = MessageCommand::Delete {
        message_id: id,
        actor: caller.username.clone(),
        at: now(),
    };
    let done = execute(&state, id, command, &metadata).await?;
    Ok(with_token(done.position, StatusCode::NO_CONTENT))
}

/// An administrator makes a deleted message visible to both sides again.
#[utoipa::path(post, path = "/api/admin/messages/{id}/restore", tag = "admin",
    params(("id" = Uuid, Path, description = "The hidden message.")),
    responses((status = 200, description = "Visible again to both sides.", body = RestoredResponse,
            headers(("X-Consistency-Token" = String))),
        (status = 400, body = ErrorBody, description = "`invalid_input`: the id is not a UUID."),
        (status = 403, body = ErrorBody, description = "`forbidden`: administrators only."),
        (status = 404, body = ErrorBody, description = "`not_found`: no such message."),
        (status = 409, body = ErrorBody, description = "`conflict`: the message is not deleted by anyone.")))]
pub async fn restore_message(
    State(state): State<CommandState>,
    caller: Caller,
    metadata: EventMetadata,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_message_id(&id)?;
    let restored_at = now();
    let command = MessageCommand::Restore {
        message_id: id,
        actor: caller.username.clone(),
        at: restored_at,
    };
    let done = execute(&state, id, command, &metadata).await?;
    let body = RestoredResponse {
        message_id: id,
        restored_at,
    };
    Ok(with_token(done.position, ApiJson(body)))
}
