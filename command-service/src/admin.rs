//! Administration of users and clinician approvals.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use events::Role;
use http_edge::{ApiError, ApiJson, Caller, ErrorBody};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use accounts::{AccountChange, ApprovalStatus, NewUser};

use crate::state::CommandState;

/// `POST /api/admin/users` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewUserBody {
    #[schema(pattern = "^[a-z0-9_.-]{1,64}$")]
    pub username: String,
    /// `patient`, `clinician`, `admin` or `auditor`.
    pub role: String,
    /// 8 to 256 characters.
    #[schema(min_length = 8, max_length = 256)]
    pub password: String,
    /// At most 128 characters; the username when absent.
    #[schema(max_length = 128)]
    pub display_name: Option<String>,
}

/// A created user.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserResponse {
    pub username: String,
    pub role: String,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
}

/// `PUT /api/admin/patient-approvals` body and answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApprovalBody {
    #[schema(pattern = "^[a-z0-9_.-]{1,64}$")]
    pub clinician: String,
    #[schema(pattern = "^[a-z0-9_.-]{1,64}$")]
    pub patient: String,
    /// `approved` or `revoked`.
    pub status: String,
}

pub(crate) fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden("administrators only".into()))
    }
}

/// Creates a user (admins only).
#[utoipa::path(post, path = "/api/admin/users", tag = "admin", request_body = NewUserBody,
    responses((status = 201, description = "Created.", body = UserResponse),
        (status = 400, body = ErrorBody, description = "`invalid_input`: a field missing or outside its limits, \
            or an unknown role."),
        (status = 403, body = ErrorBody, description = "`forbidden`: administrators only."),
        (status = 409, body = ErrorBody, description = "`conflict`: the username exists.")))]
pub async fn create_user(
    State(state): State<CommandState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewUserBody>,
) -> Result<Response, ApiError> {
    // Row 4 (400) before row 6 (403): a malformed role is invalid input whoever sends it.
    let role: Role = body
        .role
        .parse()
        .map_err(|e| ApiError::InvalidInput(format!("{e}")))?;
    require_admin(&caller)?;
    let user = accounts::create_user(
        &state.pool,
        NewUser {
            username: body.username,
            role,
            password: body.password,
            display_name: body.display_name,
        },
    )
    .await?;
    // A cached "no such user" must not outlive the user's creation.
    state
        .account_changed(AccountChange::User(user.username.clone()))
        .await;
    tracing::info!(admin = %caller.username, user = %user.username, role = %user.role, "user created");
    let body = UserResponse {
        username: user.username,
        role: user.role.to_string(),
        display_name: user.display_name,
        created_at: user.created_at,
    };
    Ok((StatusCode::CREATED, ApiJson(body)).into_response())
}

/// Approves or revokes a clinician's access to a patient (admins only).
#[utoipa::path(put, path = "/api/admin/patient-approvals", tag = "admin", request_body = ApprovalBody,
    responses((status = 200, description = "Set; the body as stored.", body = ApprovalBody),
        (status = 400, body = ErrorBody, description = "`invalid_input`: a field missing or malformed, an unknown \
            status, or users without the clinician and patient roles."),
        (status = 403, body = ErrorBody, description = "`forbidden`: administrators only."),
        (status = 404, body = ErrorBody, description = "`not_found`: no such clinician or patient.")))]
pub async fn set_patient_approval(
    State(state): State<CommandState>,
    caller: Caller,
    ApiJson(body): ApiJson<ApprovalBody>,
) -> Result<ApiJson<ApprovalBody>, ApiError> {
    let status = ApprovalStatus::parse(&body.status)
        .ok_or_else(|| ApiError::InvalidInput("status must be `approved` or `revoked`".into()))?;
    require_admin(&caller)?;
    accounts::set_approval(&state.pool, &body.clinician, &body.patient, status).await?;
    let change = AccountChange::Approval {
        clinician: body.clinician.clone(),
        patient: body.patient.clone(),
    };
    state.account_changed(change).await;
    tracing::info!(admin = %caller.username, clinician = %body.clinician, patient = %body.patient,
        status = status.as_str(), "patient approval set");
    Ok(ApiJson(body))
}

/// Answer of `POST /api/admin/users/{user}/disable`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DisabledResponse {
    pub username: String,
    pub disabled_at: DateTime<Utc>,
}

/// Answer of `POST /api/admin/users/{user}/enable`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EnabledResponse {
    pub username: String,
}

/// Disables an account: every session of the user ends at once and logins answer 401 like a
/// wrong password; their messages stay. Repeating it is 200 with the first `disabled_at`.
#[utoipa::path(post, path = "/api/admin/users/{user}/disable", tag = "admin",
    params(("user" = String, Path, pattern = "^[a-z0-9_.-]{1,64}$", description = "The account to disable.")),
    responses((status = 200, description = "Disabled: every session ended, logins answer 401; a repeat keeps the first `disabled_at`.", body = DisabledResponse),
        (status = 403, body = ErrorBody, description = "`forbidden`: administrators only."),
        (status = 404, body = ErrorBody, description = "`not_found`: no such user."),
        (status = 409, body = ErrorBody, description = "`conflict`: an administrator cannot disable their own account.")))]
pub async fn disable_user(
    State(state): State<CommandState>,
    caller: Caller,
    Path(user): Path<String>,
) -> Result<ApiJson<DisabledResponse>, ApiError> {
    require_admin(&caller)?;
    if user == caller.username {
        return Err(ApiError::Conflict(
            "you cannot disable your own account".into(),
        ));
    }
    let disabled_at = accounts::disable_user(&state.pool, &user).await?;
    // Every session of theirs ends on every instance before the answer says so.
    state
        .account_changed(AccountChange::User(user.clone()))
        .await;
    tracing::info!(admin = %caller.username, user = %user, "account disabled");
    Ok(ApiJson(DisabledResponse {
        username: user,
        disabled_at,
    }))
}

/// Lets a disabled account log in again (its old sessions stay ended).
#[utoipa::path(post, path = "/api/admin/users/{user}/enable", tag = "admin",
    params(("user" = String, Path, pattern = "^[a-z0-9_.-]{1,64}$", description = "The account to enable.")),
    responses((status = 200, description = "Enabled: the user may log in again (ended sessions stay ended).", body = EnabledResponse),
        (status = 403, body = ErrorBody, description = "`forbidden`: administrators only."),
        (status = 404, body = ErrorBody, description = "`not_found`: no such user.")))]
pub async fn enable_user(
    State(state): State<CommandState>,
    caller: Caller,
    Path(user): Path<String>,
) -> Result<ApiJson<EnabledResponse>, ApiError> {
    require_admin(&caller)?;
    accounts::enable_user(&state.pool, &user).await?;
    state
        .account_changed(AccountChange::User(user.clone()))
        .await;
    tracing::info!(admin = %caller.username, user = %user, "account enabled");
    Ok(ApiJson(EnabledResponse { username: user }))
}
