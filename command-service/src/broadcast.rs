//! A clinician's broadcast (`POST /api/clinician/messages/broadcast`): one ordinary message to
//! each patient approved for them at that moment, appended with the broadcast's own event in
//! one statement. The messages' ids derive from the broadcast id and the patient, and the
//! broadcast id from the caller's `Idempotency-Key`, so a repeat finds the broadcast and answers
//! it again, and no patient ever gets two copies.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use cqrs_es::persist::SerializedEvent;
use cqrs_es::AggregateError;
use events::limits::{check_content, clean_subject};
use events::{
    broadcast_message_id, Broadcast, BroadcastCommand, BroadcastSent, Channel, ErrorKind,
    LogPosition, Message, MessageCommand, MessageError, Role, SendMessage,
    BROADCAST_AGGREGATE_TYPE, MAX_BROADCAST_RECIPIENTS,
};
use http_edge::{ApiError, ApiJson, ErrorBody, MessageQuota};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::execute::{count, outcome, store_error, ExecuteError, CONFLICT_RETRIES};
use crate::idempotency::{idempotency_key, message_id};
use crate::messages::with_token;
use crate::metadata::EventMetadata;
use crate::state::CommandState;
use crate::streams::{append, decide, load, stream_position, Context, Writer};

/// The clinician's approved patients, by username (one more than a broadcast may reach, to
/// tell "too many").
const APPROVED_PATIENTS: &str = "SELECT patient FROM patient_approvals
     WHERE clinician = $1 AND status = 'approved' ORDER BY patient LIMIT $2";

/// `POST /api/clinician/messages/broadcast` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct BroadcastBody {
    /// At most 255 characters.
    #[schema(max_length = 255)]
    pub subject: Option<String>,
    /// 1 to 10,000 characters, not blank.
    #[schema(min_length = 1, max_length = 10000)]
    pub message: String,
}

/// 201 answer of a broadcast.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BroadcastResponse {
    pub broadcast_id: Uuid,
    /// How many patients it reached.
    pub recipients: usize,
    /// One message per patient.
    pub message_ids: Vec<Uuid>,
}

impl From<BroadcastSent> for BroadcastResponse {
    fn from(sent: BroadcastSent) -> Self {
        Self {
            broadcast_id: sent.broadcast_id,
            recipients: sent.recipients.len(),
            message_ids: sent.message_ids,
        }
    }
}

/// A clinician writes one message to each of their approved patients.
#[utoipa::path(post, path = "/api/clinician/messages/broadcast", tag = "clinician tools", request_body = BroadcastBody,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 128, pattern = "^[ -~]{1,128}$",
        description = "A repeat of the same key by the same user answers the first call's 201 again and sends nothing new")),
    responses((status = 201, description = "Sent: one message per approved patient.", body = BroadcastResponse,
            headers(("X-Consistency-Token" = String))),
        (status = 400, body = ErrorBody, description = "`invalid_input`: a field outside its limits, blank message, more than 500 approved patients, \
            or a malformed Idempotency-Key."),
        (status = 403, body = ErrorBody, description = "`forbidden`: the caller is not a clinician."),
        (status = 409, body = ErrorBody, description = "`conflict`: the broadcast that this Idempotency-Key names cannot be answered again.")))]
pub async fn broadcast(
    State(state): State<CommandState>,
    MessageQuota(caller): MessageQuota,
    metadata: EventMetadata,
    headers: HeaderMap,
    ApiJson(body): ApiJson<BroadcastBody>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let request = Request {
        broadcast_id: message_id(&caller.username, key.as_deref()),
        clinician: caller.username.clone(),
        role: caller.role,
        subject: clean_subject(body.subject)?,
        message: body.message,
    };
    check_content(&request.message)?;
    let result = send(&state.writer(), &request, &metadata).await;
    count("broadcast", outcome(&result), 1);
    let (position, sent) = result?;
    let answer = (StatusCode::CREATED, ApiJson(BroadcastResponse::from(sent)));
    Ok(with_token(position, answer))
}

/// A broadcast as asked, checked for its limits.
struct Request {
    broadcast_id: Uuid,
    clinician: String,
    role: Role,
    subject: Option<String>,
    message: String,
}

/// Sends the broadcast, or finds it sent (a repeat of its key).
async fn send(
    writer: &Writer,
    request: &Request,
    metadata: &EventMetadata,
) -> Result<(LogPosition, BroadcastSent), ExecuteError> {
    let id = request.broadcast_id.to_string();
    for _ in 0..=CONFLICT_RETRIES {
        let mut context = load::<Broadcast>(&writer.pool, &id).await?;
        if let Some(sent) = context.aggregate.sent.clone() {
            if sent.clinician != request.clinician {
                return Err(ApiError::Conflict("idempotency key already used".into()).into());
            }
            let position = stream_position(&writer.pool, BROADCAST_AGGREGATE_TYPE, &id).await?;
            return Ok((position, sent));
        }
        let at = crate::messages::now();
        let mut events = Vec::new();
        let patients = if request.role == Role::Clinician {
            approved_patients(writer, &request.clinician).await?
        } else {
            Vec::new()
        };
        let patients = if patients.len() > MAX_BROADCAST_RECIPIENTS {
            patients // the domain refuses them all
        } else {
            messages(writer, request, &patients, at, metadata, &mut events).await?
        };
        let command = BroadcastCommand {
            broadcast_id: request.broadcast_id,
            clinician: request.clinician.clone(),
            clinician_role: request.role,
            subject: request.subject.clone(),
            patients,
            at,
        };
        let (_, sent) = decide(&writer.directory, &mut context, command, metadata).await?;
        events.extend(sent);
        if let Some(position) = append(writer, &events).await? {
            let sent = context
                .aggregate
                .sent
                .ok_or(MessageError::UnknownMessage(request.broadcast_id))?;
            return Ok((position.unwrap_or(LogPosition::START), sent));
        }
        // Another request with the same key appended first: answer what it sent.
    }
    Err(store_error(AggregateError::AggregateConflict))
}

/// The patients approved for `clinician` now (at most one more than a broadcast may reach).
async fn approved_patients(writer: &Writer, clinician: &str) -> Result<Vec<String>, ApiError> {
    Ok(sqlx::query_scalar(APPROVED_PATIENTS)
        .bind(clinician)
        .bind((MAX_BROADCAST_RECIPIENTS + 1) as i64)
        .fetch_all(&writer.pool)
        .await?)
}

/// Decides one message per patient into `events`; returns the patients it reaches. A patient
/// the policy refuses at this instant (an approval revoked meanwhile) is left out.
async fn messages(
    writer: &Writer,
    request: &Request,
    patients: &[String],
    at: DateTime<Utc>,
    metadata: &EventMetadata,
    events: &mut Vec<SerializedEvent>,
) -> Result<Vec<String>, ExecuteError> {
    let mut reached = Vec::with_capacity(patients.len());
    for patient in patients {
        let message_id = broadcast_message_id(request.broadcast_id, patient);
        // A broadcast's messages are appended with it, so none exists yet: nothing to load.
        let mut message = Context::<Message> {
            aggregate_id: message_id.to_string(),
            aggregate: Message::default(),
            current_sequence: 0,
            current_snapshot: None,
        };
        let send = MessageCommand::Send(SendMessage {
            message_id,
            sender: request.clinician.clone(),
            recipient: patient.clone(),
            subject: request.subject.clone(),
            content: request.message.clone(),
            channel: Channel::Broadcast,
            sent_at: at,
        });
        match decide(&writer.directory, &mut message, send, metadata).await {
            Ok((_, sent)) => {
                events.extend(sent);
                reached.push(patient.clone());
            }
            Err(ExecuteError::Domain(err)) if err.kind() == ErrorKind::Forbidden => {
                tracing::debug!(%patient, error = %err, "the broadcast leaves out a patient");
            }
            Err(err) => return Err(err),
        }
    }
    Ok(reached)
}
