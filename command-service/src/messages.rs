//! Creating messages: direct sends, replies and the clinician channel.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SubsecRound, Utc};
use events::{
    Channel, LogPosition, MessageCommand, MessageError, MessageEvent, MessageState, ReplyToMessage,
    SendMessage,
};
use http_edge::{ApiError, ApiJson, Caller, ErrorBody, MessageQuota};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::execute::{execute_new, last_position, load_message, ExecuteError};
use crate::idempotency::{idempotency_key, message_id};
use crate::metadata::EventMetadata;
use crate::state::CommandState;

/// The response header carrying a command's log position.
pub static CONSISTENCY_TOKEN: HeaderName = HeaderName::from_static("x-consistency-token");

/// `POST /api/messages/send` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SendBody {
    /// The recipient's username.
    #[schema(pattern = "^[a-z0-9_.-]{1,64}$")]
    pub recipient: String,
    /// At most 255 characters.
    #[schema(max_length = 255)]
    pub subject: Option<String>,
    /// 1 to 10,000 characters, not blank.
    #[schema(min_length = 1, max_length = 10000)]
    pub content: String,
}

/// `POST /api/clinician/message` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ClinicianMessageBody {
    /// One of the clinician's approved patients.
    #[schema(pattern = "^[a-z0-9_.-]{1,64}$")]
    pub recipient_username: String,
    /// 1 to 10,000 characters, not blank.
    #[schema(min_length = 1, max_length = 10000)]
    pub message: String,
    /// At most 255 characters.
    #[schema(max_length = 255)]
    pub subject: Option<String>,
}

/// `POST /api/messages/{id}/reply` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReplyBody {
    /// 1 to 10,000 characters, not blank.
    #[schema(min_length = 1, max_length = 10000)]
    pub content: String,
    /// At most 255 characters; defaults to `Re: ` and the parent's subject.
    #[schema(max_length = 255)]
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
    /// The parent's other participant.
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

/// The message a command created, as its `MessageSent` event tells it (for an idempotent
/// repeat, as the message folded from that same event): the one source of a 201's body.
struct Created {
    message_id: Uuid,
    recipient: String,
    parent_message_id: Option<Uuid>,
    sent_at: DateTime<Utc>,
}

impl Created {
    fn sent(events: &[MessageEvent]) -> Option<Self> {
        events.iter().find_map(|event| match event {
            MessageEvent::MessageSent {
                message_id,
                recipient,
                parent_message_id,
                sent_at,
                ..
            } => Some(Self {
                message_id: *message_id,
                recipient: recipient.clone(),
                parent_message_id: *parent_message_id,
                sent_at: *sent_at,
            }),
            _ => None,
        })
    }

    fn of(message: &MessageState) -> Self {
        Self {
            message_id: message.message_id,
            recipient: message.recipient.clone(),
            parent_message_id: message.parent_message_id,
            sent_at: message.sent_at,
        }
    }
}

/// Runs a message-creating command on the new message `id`; with an idempotency key, a repeat
/// (even a racing one) answers the message that the first call created.
async fn create(
    state: &CommandState,
    caller: &Caller,
    metadata: &EventMetadata,
    key: Option<String>,
    (id, command): (Uuid, MessageCommand),
    answer: fn(Created) -> Response,
) -> Result<Response, ApiError> {
    if key.is_some() {
        if let Some(existing) = load_message(state, id).await? {
            return replay(state, caller, &existing, answer).await;
        }
    }
    // A random id cannot exist, and a keyed one was just found absent: nothing to load.
    match execute_new(state, id, command, metadata).await {
        Ok(done) => {
            // Accepted on a message that did not exist: its events start with `MessageSent`.
            let created = Created::sent(&done.events)
                .ok_or_else(|| ApiError::internal(MessageError::UnknownMessage(id)))?;
            Ok(with_token(done.position, answer(created)))
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
    answer: fn(Created) -> Response,
) -> Result<Response, ApiError> {
    if existing.sender != caller.username {
        return Err(ApiError::Conflict("idempotency key already used".into()));
    }
    let position = last_position(state, &existing.message_id.to_string()).await?;
    Ok(with_token(position, answer(Created::of(existing))))
}

fn sent_answer(message: Created) -> Response {
    let body = SentResponse {
        message_id: message.message_id,
        sent_at: message.sent_at,
    };
    (StatusCode::CREATED, ApiJson(body)).into_response()
}

fn reply_answer(message: Created) -> Response {
    let body = ReplyResponse {
        message_id: message.message_id,
        parent_message_id: message.parent_message_id.unwrap_or_default(),
        recipient: message.recipient,
        sent_at: message.sent_at,
    };
    (StatusCode::CREATED, ApiJson(body)).into_response()
}

/// Send a message to another user.
#[utoipa::path(post, path = "/api/messages/send", tag = "commands", request_body = SendBody,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 128, pattern = "^[ -~]{1,128}$",
        description = "A repeat of the same key by the same user answers the first call's 201 again and creates nothing")),
    responses((status = 201, description = "Sent.", body = SentResponse, headers(("X-Consistency-Token" = String))),
        (status = 400, body = ErrorBody, description = "`invalid_input`: a field missing or outside its limits, blank content, \
            a message to oneself, or a malformed Idempotency-Key."),
        (status = 403, body = ErrorBody, description = "`forbidden`: the caller may not message this user."),
        (status = 404, body = ErrorBody, description = "`not_found`: no such recipient."),
        (status = 409, body = ErrorBody, description = "`conflict`: the message that this Idempotency-Key names cannot be answered again.")))]
pub async fn send_message(
    State(state): State<CommandState>,
    MessageQuota(caller): MessageQuota,
    metadata: EventMetadata,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SendBody>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let send = SendMessage {
        message_id: message_id(&caller.username, key.as_deref()),
        sender: caller.username.clone(),
        recipient: body.recipient,
        subject: body.subject,
        content: body.content,
        channel: Channel::Direct,
        sent_at: now(),
    };
    let command = (send.message_id, MessageCommand::Send(send));
    create(&state, &caller, &metadata, key, command, sent_answer).await
}

/// A clinician writes to one of their patients.
#[utoipa::path(post, path = "/api/clinician/message", tag = "commands", request_body = ClinicianMessageBody,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 128, pattern = "^[ -~]{1,128}$",
        description = "A repeat of the same key by the same user answers the first call's 201 again and creates nothing")),
    responses((status = 201, description = "Sent.", body = SentResponse, headers(("X-Consistency-Token" = String))),
        (status = 400, body = ErrorBody, description = "`invalid_input`: a field missing or outside its limits, blank message, \
            or a malformed Idempotency-Key."),
        (status = 403, body = ErrorBody, description = "`forbidden`: the caller is not a clinician, or may not message this user."),
        (status = 404, body = ErrorBody, description = "`not_found`: no such recipient."),
        (status = 409, body = ErrorBody, description = "`conflict`: the message that this Idempotency-Key names cannot be answered again.")))]
pub async fn send_clinician_message(
    State(state): State<CommandState>,
    MessageQuota(caller): MessageQuota,
    metadata: EventMetadata,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ClinicianMessageBody>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let send = SendMessage {
        message_id: message_id(&caller.username, key.as_deref()),
        sender: caller.username.clone(),
        recipient: body.recipient_username,
        subject: body.subject,
        content: body.message,
        channel: Channel::Clinician,
        sent_at: now(),
    };
    let command = (send.message_id, MessageCommand::Send(send));
    create(&state, &caller, &metadata, key, command, sent_answer).await
}

/// Parses a message id from the path (400 when it is not a UUID).
pub fn parse_message_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::InvalidInput(format!("`{raw}` is not a message id")))
}

/// Reply to a message; the reply goes to its other participant.
#[utoipa::path(post, path = "/api/messages/{id}/reply", tag = "commands", request_body = ReplyBody,
    params(("id" = Uuid, Path, description = "The parent message."),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 128, pattern = "^[ -~]{1,128}$",
        description = "A repeat of the same key by the same user answers the first call's 201 again and creates nothing")),
    responses((status = 201, description = "Sent to the parent's other participant.", body = ReplyResponse,
            headers(("X-Consistency-Token" = String))),
        (status = 400, body = ErrorBody, description = "`invalid_input`: an id that is not a UUID, a field outside its limits, \
            blank content, or a malformed Idempotency-Key."),
        (status = 403, body = ErrorBody, description = "`forbidden`: the caller is not a participant of the parent message."),
        (status = 404, body = ErrorBody, description = "`not_found`: no such parent message (or not visible to the caller)."),
        (status = 409, body = ErrorBody, description = "`conflict`: the message that this Idempotency-Key names cannot be answered again.")))]
pub async fn reply_to_message(
    State(state): State<CommandState>,
    MessageQuota(caller): MessageQuota,
    metadata: EventMetadata,
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
    // The domain sends the reply to the parent's other participant; the answer names whom.
    let command = MessageCommand::Reply(ReplyToMessage {
        message_id: id,
        sender: caller.username.clone(),
        parent_message_id,
        parent,
        subject: body.subject,
        content: body.content,
        sent_at: now(),
    });
    create(&state, &caller, &metadata, key, (id, command), reply_answer).await
}
