//! Creating messages: direct sends, replies and the clinician channel.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SubsecRound, Utc};
use events::{
    Channel, LogPosition, MessageCommand, MessageError, MessageState, ReplyToMessage, SendMessage,
};
use http_edge::{ApiError, ApiJson, Caller, ErrorBody, MessageQuota};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::execute::{execute, last_position, load_message, ExecuteError};
use crate::idempotency::{idempotency_key, message_id};
use crate::state::CommandState;

/// The response header carrying a command's log position.
pub static CONSISTENCY_TOKEN: HeaderName = HeaderName::from_static("x-consistency-token");

/// `POST /api/messages/send` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SendBody {
    pub recipient: String,
    pub subject: Option<String>,
    pub content: String,
}

/// `POST /api/clinician/message` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ClinicianMessageBody {
    pub recipient_username: String,
    pub message: String,
    pub subject: Option<String>,
}

/// `POST /api/messages/{id}/reply` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReplyBody {
    pub content: String,
    pub subject: Option<String>,
}

/// 201 answer of a send.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SentResponse {
    pub message_id: Uuid,
    pub sent_at: DateTime<Utc>,
}

/// 201 answer of a reply.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReplyResponse {
    pub message_id: Uuid,
    pub parent_message_id: Uuid,
    pub recipient: String,
    pub sent_at: DateTime<Utc>,
}

/// A response with the `X-Consistency-Token` of `position`.
pub fn with_token(position: LogPosition, response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    if let Ok(value) = HeaderValue::from_str(&position.to_string()) {
        response
            .headers_mut()
            .insert(CONSISTENCY_TOKEN.clone(), value);
    }
    response
}

/// Times are kept to the microsecond, as PostgreSQL stores them.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Runs a message-creating command; with an idempotency key, a repeat (even a racing one)
/// answers the message that the first call created.
async fn create(
    state: &CommandState,
    caller: &Caller,
    key: Option<String>,
    id: Uuid,
    command: MessageCommand,
    answer: fn(&MessageState) -> Response,
) -> Result<Response, ApiError> {
    if key.is_some() {
        if let Some(existing) = load_message(state, id).await? {
            return replay(state, caller, &existing, answer).await;
        }
    }
    match execute(state, id, command, caller).await {
        Ok(position) => {
            let created = load_message(state, id)
                .await?
                .ok_or_else(|| ApiError::internal(MessageError::UnknownMessage(id)))?;
            Ok(with_token(position, answer(&created)))
        }
        Err(ExecuteError::Domain(MessageError::AlreadySent(_))) if key.is_some() => {
            let existing = load_message(state, id)
                .await?
                .ok_or_else(|| ApiError::internal(MessageError::UnknownMessage(id)))?;
            replay(state, caller, &existing, answer).await
        }
        Err(err) => Err(err.into()),
    }
}

async fn replay(
    state: &CommandState,
    caller: &Caller,
    existing: &MessageState,
    answer: fn(&MessageState) -> Response,
) -> Result<Response, ApiError> {
    if existing.sender != caller.username {
        return Err(ApiError::Conflict("idempotency key already used".into()));
    }
    let position = last_position(state, &existing.message_id.to_string()).await?;
    Ok(with_token(position, answer(existing)))
}

fn sent_answer(message: &MessageState) -> Response {
    let body = SentResponse {
        message_id: message.message_id,
        sent_at: message.sent_at,
    };
    (StatusCode::CREATED, ApiJson(body)).into_response()
}

fn reply_answer(message: &MessageState) -> Response {
    let body = ReplyResponse {
        message_id: message.message_id,
        parent_message_id: message.parent_message_id.unwrap_or_default(),
        recipient: message.recipient.clone(),
        sent_at: message.sent_at,
    };
    (StatusCode::CREATED, ApiJson(body)).into_response()
}

/// Send a message to another user.
#[utoipa::path(post, path = "/api/messages/send", tag = "commands", request_body = SendBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "repeat-safe key, 1-128 printable characters")),
    responses((status = 201, body = SentResponse, headers(("X-Consistency-Token" = String))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn send_message(
    State(state): State<CommandState>,
    MessageQuota(caller): MessageQuota,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SendBody>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let id = message_id(&caller.username, key.as_deref());
    let command = MessageCommand::Send(SendMessage {
        message_id: id,
        sender: caller.username.clone(),
        recipient: body.recipient,
        subject: body.subject,
        content: body.content,
        channel: Channel::Direct,
        sent_at: now(),
    });
    create(&state, &caller, key, id, command, sent_answer).await
}

/// A clinician writes to one of their patients.
#[utoipa::path(post, path = "/api/clinician/message", tag = "commands", request_body = ClinicianMessageBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "repeat-safe key, 1-128 printable characters")),
    responses((status = 201, body = SentResponse, headers(("X-Consistency-Token" = String))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn send_clinician_message(
    State(state): State<CommandState>,
    MessageQuota(caller): MessageQuota,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ClinicianMessageBody>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let id = message_id(&caller.username, key.as_deref());
    let command = MessageCommand::Send(SendMessage {
        message_id: id,
        sender: caller.username.clone(),
        recipient: body.recipient_username,
        subject: body.subject,
        content: body.message,
        channel: Channel::Clinician,
        sent_at: now(),
    });
    create(&state, &caller, key, id, command, sent_answer).await
}

/// Parses a message id from the path (400 when it is not a UUID).
pub fn parse_message_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::InvalidInput(format!("`{raw}` is not a message id")))
}

/// Reply to a message; the reply goes to its other participant.
#[utoipa::path(post, path = "/api/messages/{id}/reply", tag = "commands", request_body = ReplyBody,
    params(("id" = Uuid, Path, description = "the parent message"),
           ("Idempotency-Key" = Option<String>, Header, description = "repeat-safe key, 1-128 printable characters")),
    responses((status = 201, body = ReplyResponse, headers(("X-Consistency-Token" = String))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn reply_to_message(
    State(state): State<CommandState>,
    MessageQuota(caller): MessageQuota,
    Path(parent): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ReplyBody>,
) -> Result<Response, ApiError> {
    let parent_message_id = parse_message_id(&parent)?;
    let key = idempotency_key(&headers)?;
    let id = message_id(&caller.username, key.as_deref());
    let parent = load_message(&state, parent_message_id)
        .await?
        .map(|p| p.as_parent());
    let command = MessageCommand::Reply(ReplyToMessage {
        message_id: id,
        sender: caller.username.clone(),
        parent_message_id,
        parent,
        subject: body.subject,
        content: body.content,
        sent_at: now(),
    });
    create(&state, &caller, key, id, command, reply_answer).await
}
