//! Erasure and legal holds of messages (administrators; `hs-admin retention` erases through the
//! same function). Erasing appends `MessageErased` and destroys the message's data key in one
//! statement (`store::append_events`), so the text is unrecoverable the moment the answer says so.

use axum::extract::{Path, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use events::{LogPosition, Message, MessageCommand};
use http_edge::{ApiError, ApiJson, Caller, ErrorBody};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::admin::require_admin;
use crate::execute::ExecuteError;
use crate::messages::{now, parse_message_id, with_token};
use crate::metadata::EventMetadata;
use crate::state::CommandState;
use crate::streams::{execute_on, Writer};

/// `POST /api/admin/messages/{id}/erase` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EraseBody {
    /// Why (kept in the log and the audit trail): 1 to 500 characters, one line.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

/// 200 answer of an erasure.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErasedResponse {
    pub message_id: Uuid,
    pub erased_at: DateTime<Utc>,
}

/// `PUT /api/admin/messages/{id}/hold` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct HoldBody {
    /// `true` places the hold, `false` releases it.
    pub held: bool,
    /// Why: 1 to 500 characters, one line.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

/// 200 answer of a hold.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HoldResponse {
    pub message_id: Uuid,
    pub held: bool,
}

/// Erases message `id` as administrator `actor`: its data key is destroyed with the
/// `MessageErased` event. Returns where the event landed and its time.
pub async fn erase(
    writer: &Writer,
    id: Uuid,
    actor: &str,
    reason: String,
    metadata: &EventMetadata,
) -> Result<(LogPosition, DateTime<Utc>), ExecuteError> {
    let at = now();
    let command = MessageCommand::Erase {
        message_id: id,
        actor: actor.to_owned(),
        reason,
        at,
    };
    let done = execute_on::<Message>(writer, "erase", &id.to_string(), command, metadata).await?;
    // A retry after a conflict decides again with a new time only if the first did not land.
    let erased_at = done
        .aggregate
        .state
        .as_ref()
        .and_then(|state| state.erased_at)
        .unwrap_or(at);
    Ok((done.position, erased_at))
}

/// An administrator erases a message: its subject and content become unrecoverable everywhere.
#[utoipa::path(post, path = "/api/admin/messages/{id}/erase", tag = "admin", request_body = EraseBody,
    params(("id" = Uuid, Path, description = "The message.")),
    responses((status = 200, description = "Erased: the data key is destroyed, the read tables blank the text.",
            body = ErasedResponse, headers(("X-Consistency-Token" = String))),
        (status = 400, body = ErrorBody, description = "`invalid_input`: the id is not a UUID, or the reason is missing, empty, multi-line or over 500 characters."),
        (status = 403, body = ErrorBody, description = "`forbidden`: administrators only."),
        (status = 404, body = ErrorBody, description = "`not_found`: no such message."),
        (status = 409, body = ErrorBody, description = "`conflict`: already erased, or under a legal hold.")))]
pub async fn erase_message(
    State(state): State<CommandState>,
    caller: Caller,
    metadata: EventMetadata,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<EraseBody>,
) -> Result<Response, ApiError> {
    let id = parse_message_id(&id)?;
    require_admin(&caller)?;
    let (position, erased_at) = erase(
        &state.writer(),
        id,
        &caller.username,
        body.reason,
        &metadata,
    )
    .await?;
    tracing::info!(admin = %caller.username, message_id = %id, "message erased");
    Ok(with_token(
        position,
        ApiJson(ErasedResponse {
            message_id: id,
            erased_at,
        }),
    ))
}

/// An administrator places or releases a legal hold: a held message is exempt from erasure and
/// retention. Setting the state it has already is 200 and records nothing.
#[utoipa::path(put, path = "/api/admin/messages/{id}/hold", tag = "admin", request_body = HoldBody,
    params(("id" = Uuid, Path, description = "The message.")),
    responses((status = 200, description = "The hold as it stands now.", body = HoldResponse,
            headers(("X-Consistency-Token" = String))),
        (status = 400, body = ErrorBody, description = "`invalid_input`: the id is not a UUID, `held` is missing, or the reason is missing, empty, multi-line or over 500 characters."),
        (status = 403, body = ErrorBody, description = "`forbidden`: administrators only."),
        (status = 404, body = ErrorBody, description = "`not_found`: no such message.")))]
pub async fn set_hold(
    State(state): State<CommandState>,
    caller: Caller,
    metadata: EventMetadata,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<HoldBody>,
) -> Result<Response, ApiError> {
    let id = parse_message_id(&id)?;
    require_admin(&caller)?;
    let command = MessageCommand::SetHold {
        message_id: id,
        actor: caller.username.clone(),
        held: body.held,
        reason: body.reason,
        at: now(),
    };
    let done =
        execute_on::<Message>(&state.writer(), "hold", &id.to_string(), command, &metadata).await?;
    let held = done.aggregate.state.as_ref().is_some_and(|s| s.held);
    tracing::info!(admin = %caller.username, message_id = %id, held, "legal hold set");
    Ok(with_token(
        done.position,
        ApiJson(HoldResponse {
            message_id: id,
            held,
        }),
    ))
}
