//! Scheduled messages: schedule, change, cancel (`API.md`, "Clinician tools"). The scheduler
//! ([`crate::scheduler`]) delivers them.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SubsecRound, Utc};
use events::{MessageError, ScheduledCommand, ScheduledMessage, ScheduledState};
use http_edge::{ApiError, ApiJson, Caller, ErrorBody, MessageQuota};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::execute::ExecuteError;
use crate::idempotency::{idempotency_key, message_id};
use crate::messages::{now, with_token};
use crate::metadata::EventMetadata;
use crate::state::CommandState;
use crate::streams::{execute_on, load};

/// `POST /api/messages/scheduled` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ScheduleBody {
    /// The recipient's username.
    #[schema(pattern = "^[a-z0-9_.-]{1,64}$")]
    pub recipient: String,
    /// At most 255 characters.
    #[schema(max_length = 255)]
    pub subject: Option<String>,
    /// 1 to 10,000 characters, not blank.
    #[schema(min_length = 1, max_length = 10000)]
    pub content: String,
    /// RFC 3339; at least 1 minute and at most 365 days ahead.
    pub send_at: DateTime<Utc>,
}

/// `PATCH /api/messages/scheduled/{id}` body: the fields to change (at least one). `subject:
/// null` removes the subject.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RescheduleBody {
    /// RFC 3339; at least 1 minute and at most 365 days ahead.
    pub send_at: Option<DateTime<Utc>>,
    /// At most 255 characters; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 255)]
    pub subject: Option<Option<String>>,
    /// 1 to 10,000 characters, not blank.
    #[schema(min_length = 1, max_length = 10000)]
    pub content: Option<String>,
}

/// A field that is present (even as `null`) is `Some`; an absent one stays `None` (`default`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// 201 answer of `POST /api/messages/scheduled`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScheduledCreated {
    pub scheduled_id: Uuid,
    pub send_at: DateTime<Utc>,
}

/// A scheduled message as its author sees it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScheduledItem {
    pub scheduled_id: Uuid,
    pub recipient: String,
    pub subject: Option<String>,
    pub content: String,
    pub send_at: DateTime<Utc>,
    /// `pending`, `sent`, `cancelled` or `failed`.
    pub status: String,
    /// The delivered message (when `sent`).
    pub message_id: Option<Uuid>,
    /// Why it could not be delivered (when `failed`).
    pub failure: Option<String>,
}

impl From<ScheduledState> for ScheduledItem {
    fn from(state: ScheduledState) -> Self {
        Self {
            scheduled_id: state.scheduled_id,
            recipient: state.recipient,
            subject: state.subject,
            content: state.content,
            send_at: state.send_at,
            status: state.status.as_str().to_owned(),
            message_id: state.message_id,
            failure: state.failure,
        }
    }
}

fn parse_scheduled_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::InvalidInput(format!("`{raw}` is not a scheduled message id")))
}

fn created(scheduled_id: Uuid, send_at: DateTime<Utc>) -> impl IntoResponse {
    let body = ScheduledCreated {
        scheduled_id,
        send_at,
    };
    (StatusCode::CREATED, ApiJson(body))
}

/// Write a message now, to be sent at `send_at`.
#[utoipa::path(post, path = "/api/messages/scheduled", tag = "clinician tools", request_body = ScheduleBody,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 128, pattern = "^[ -~]{1,128}$",
        description = "A repeat of the same key by the same user answers the first call's 201 again and schedules nothing")),
    responses((status = 201, description = "Scheduled.", body = ScheduledCreated, headers(("X-Consistency-Token" = String))),
        (status = 400, body = ErrorBody, description = "`invalid_input`: a field outside its limits, `send_at` less than 1 minute or more than 365 days ahead, \
            a message to oneself, or a malformed Idempotency-Key."),
        (status = 403, body = ErrorBody, description = "`forbidden`: the caller may not message this user."),
        (status = 404, body = ErrorBody, description = "`not_found`: no such recipient.")))]
pub async fn schedule_message(
    State(state): State<CommandState>,
    MessageQuota(caller): MessageQuota,
    metadata: EventMetadata,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ScheduleBody>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let scheduled_id = message_id(&caller.username, key.as_deref());
    let command = ScheduledCommand::Schedule {
        scheduled_id,
        author: caller.username.clone(),
        recipient: body.recipient,
        subject: body.subject,
        content: body.content,
        send_at: body.send_at.trunc_subsecs(6),
        at: now(),
    };
    let id = scheduled_id.to_string();
    let writer = state.writer();
    match execute_on::<ScheduledMessage>(&writer, "schedule", &id, command, &metadata).await {
        Ok(done) => {
            let send_at = done.aggregate.state.map(|s| s.send_at).unwrap_or_default();
            Ok(with_token(done.position, created(scheduled_id, send_at)))
        }
        // The same key again: the message it scheduled, as it was scheduled.
        Err(ExecuteError::Domain(MessageError::AlreadySent(_))) if key.is_some() => {
            let existing = load::<ScheduledMessage>(&writer.pool, &id).await?;
            match existing.aggregate.state {
                Some(s) if s.author == caller.username => {
                    Ok(created(s.scheduled_id, s.send_at).into_response())
                }
                _ => Err(ApiError::Conflict("idempotency key already used".into())),
            }
        }
        Err(err) => Err(err.into()),
    }
}

/// The author changes a pending scheduled message.
#[utoipa::path(patch, path = "/api/messages/scheduled/{id}", tag = "clinician tools", request_body = RescheduleBody,
    params(("id" = Uuid, Path, description = "The scheduled message.")),
    responses((status = 200, description = "Changed.", body = ScheduledItem, headers(("X-Consistency-Token" = String))),
        (status = 400, body = ErrorBody, description = "`invalid_input`: the id is not a UUID, no field to change, a field outside its limits, \
            or `send_at` less than 1 minute or more than 365 days ahead."),
        (status = 404, body = ErrorBody, description = "`not_found`: the caller scheduled no such message."),
        (status = 409, body = ErrorBody, description = "`conflict`: it is no longer pending (sent, cancelled or failed).")))]
pub async fn change_scheduled(
    State(state): State<CommandState>,
    caller: Caller,
    metadata: EventMetadata,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RescheduleBody>,
) -> Result<Response, ApiError> {
    let scheduled_id = parse_scheduled_id(&id)?;
    if body.send_at.is_none() && body.subject.is_none() && body.content.is_none() {
        return Err(ApiError::InvalidInput(
            "give at least one of send_at, subject and content".into(),
        ));
    }
    let command = ScheduledCommand::Change {
        author: caller.username.clone(),
        send_at: body.send_at.map(|at| at.trunc_subsecs(6)),
        subject: body.subject,
        content: body.content,
        at: now(),
    };
    let done = execute_on::<ScheduledMessage>(
        &state.writer(),
        "scheduled_change",
        &scheduled_id.to_string(),
        command,
        &metadata,
    )
    .await?;
    let item = done
        .aggregate
        .state
        .map(ScheduledItem::from)
        .ok_or_else(|| ApiError::internal(MessageError::UnknownScheduled))?;
    Ok(with_token(done.position, ApiJson(item)))
}

/// The author cancels a pending scheduled message.
#[utoipa::path(delete, path = "/api/messages/scheduled/{id}", tag = "clinician tools",
    params(("id" = Uuid, Path, description = "The scheduled message.")),
    responses((status = 204, description = "Cancelled.", headers(("X-Consistency-Token" = String))),
        (status = 400, body = ErrorBody, description = "`invalid_input`: the id is not a UUID."),
        (status = 404, body = ErrorBody, description = "`not_found`: the caller scheduled no such message."),
        (status = 409, body = ErrorBody, description = "`conflict`: it is no longer pending (sent, cancelled or failed).")))]
pub async fn cancel_scheduled(
    State(state): State<CommandState>,
    caller: Caller,
    metadata: EventMetadata,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let scheduled_id = parse_scheduled_id(&id)?;
    let command = ScheduledCommand::Cancel {
        author: caller.username.clone(),
        at: now(),
    };
    let done = execute_on::<ScheduledMessage>(
        &state.writer(),
        "scheduled_cancel",
        &scheduled_id.to_string(),
        command,
        &metadata,
    )
    .await?;
    Ok(with_token(done.position, StatusCode::NO_CONTENT))
}
