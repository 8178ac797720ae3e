//! A clinician's templates: create, change, delete (`API.md`, "Clinician tools"). Each
//! clinician's templates are one stream, keyed by their username, so another clinician's
//! template is simply not in the caller's stream (404), and the cap holds under concurrency.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use events::{MessageError, TemplateBook, TemplateCommand, TemplateText};
use http_edge::{ApiError, ApiJson, Caller, ErrorBody};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::execute::ExecuteError;
use crate::idempotency::{idempotency_key, message_id};
use crate::messages::{now, with_token};
use crate::metadata::EventMetadata;
use crate::state::CommandState;
use crate::streams::execute_on;

/// `POST /api/messages/templates` and `PUT /api/messages/templates/{id}` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TemplateBody {
    /// One line of 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub title: String,
    /// At most 255 characters.
    #[schema(max_length = 255)]
    pub subject: Option<String>,
    /// 1 to 10,000 characters, not blank.
    #[schema(min_length = 1, max_length = 10000)]
    pub content: String,
}

impl TemplateBody {
    fn text(self) -> Result<TemplateText, ApiError> {
        Ok(TemplateText::new(self.title, self.subject, self.content)?)
    }
}

/// 201 answer of `POST /api/messages/templates`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TemplateCreated {
    pub template_id: Uuid,
}

/// 200 answer of `PUT /api/messages/templates/{id}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TemplateUpdated {
    pub template_id: Uuid,
    pub updated_at: DateTime<Utc>,
}

fn parse_template_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::InvalidInput(format!("`{raw}` is not a template id")))
}

/// A clinician saves a template.
#[utoipa::path(post, path = "/api/messages/templates", tag = "clinician tools", request_body = TemplateBody,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 128, pattern = "^[ -~]{1,128}$",
        description = "A repeat of the same key by the same user answers the first call's 201 again and creates nothing")),
    responses((status = 201, description = "Saved.", body = TemplateCreated, headers(("X-Consistency-Token" = String))),
        (status = 400, body = ErrorBody, description = "`invalid_input`: a title, subject or content outside its limits, or a malformed Idempotency-Key."),
        (status = 403, body = ErrorBody, description = "`forbidden`: the caller is not a clinician."),
        (status = 409, body = ErrorBody, description = "`conflict`: the caller already keeps 200 templates.")))]
pub async fn create_template(
    State(state): State<CommandState>,
    caller: Caller,
    metadata: EventMetadata,
    headers: HeaderMap,
    ApiJson(body): ApiJson<TemplateBody>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let template_id = message_id(&caller.username, key.as_deref());
    let command = TemplateCommand::Create {
        template_id,
        owner: caller.username.clone(),
        owner_role: caller.role,
        text: body.text()?,
        at: now(),
    };
    let created = (
        StatusCode::CREATED,
        ApiJson(TemplateCreated { template_id }),
    );
    match execute_on::<TemplateBook>(
        &state.writer(),
        "template_create",
        &caller.username,
        command,
        &metadata,
    )
    .await
    {
        Ok(done) => Ok(with_token(done.position, created)),
        // The same key again: the template it created (even if deleted since).
        Err(ExecuteError::Domain(MessageError::AlreadySent(_))) if key.is_some() => {
            Ok(created.into_response())
        }
        Err(err) => Err(err.into()),
    }
}

/// The owner changes a template.
#[utoipa::path(put, path = "/api/messages/templates/{id}", tag = "clinician tools", request_body = TemplateBody,
    params(("id" = Uuid, Path, description = "The template.")),
    responses((status = 200, description = "Changed.", body = TemplateUpdated, headers(("X-Consistency-Token" = String))),
        (status = 400, body = ErrorBody, description = "`invalid_input`: the id is not a UUID, or a field outside its limits."),
        (status = 404, body = ErrorBody, description = "`not_found`: the caller keeps no such template (another clinician's is not theirs).")))]
pub async fn change_template(
    State(state): State<CommandState>,
    caller: Caller,
    metadata: EventMetadata,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TemplateBody>,
) -> Result<Response, ApiError> {
    let template_id = parse_template_id(&id)?;
    let at = now();
    let command = TemplateCommand::Change {
        template_id,
        owner: caller.username.clone(),
        text: body.text()?,
        at,
    };
    let done = execute_on::<TemplateBook>(
        &state.writer(),
        "template_change",
        &caller.username,
        command,
        &metadata,
    )
    .await?;
    let body = TemplateUpdated {
        template_id,
        updated_at: at,
    };
    Ok(with_token(done.position, ApiJson(body)))
}

/// The owner deletes a template.
#[utoipa::path(delete, path = "/api/messages/templates/{id}", tag = "clinician tools",
    params(("id" = Uuid, Path, description = "The template.")),
    responses((status = 204, description = "Deleted.", headers(("X-Consistency-Token" = String))),
        (status = 400, body = ErrorBody, description = "`invalid_input`: the id is not a UUID."),
        (status = 404, body = ErrorBody, description = "`not_found`: the caller keeps no such template (a repeat of a delete is 404).")))]
pub async fn delete_template(
    State(state): State<CommandState>,
    caller: Caller,
    metadata: EventMetadata,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let template_id = parse_template_id(&id)?;
    let command = TemplateCommand::Delete {
        template_id,
        owner: caller.username.clone(),
        at: now(),
    };
    let done = execute_on::<TemplateBook>(
        &state.writer(),
        "template_delete",
        &caller.username,
        command,
        &metadata,
    )
    .await?;
    Ok(with_token(done.position, StatusCode::NO_CONTENT))
}
