//! Blocking (`API.md`, "Patient controls"): `POST` and `DELETE /api/messages/block/{user}`.
//! A block is its own stream per pair; the messaging policy reads it from the log.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use events::{block_stream, Block, BlockCommand};
use http_edge::{ApiError, Caller, ErrorBody};

use crate::messages::{now, with_token};
use crate::metadata::EventMetadata;
use crate::state::CommandState;
use crate::streams::execute_on;

/// The caller blocks `user`: neither can message the other until it is lifted.
#[utoipa::path(post, path = "/api/messages/block/{user}", tag = "patient controls",
    params(("user" = String, Path, description = "The user to block.")),
    responses((status = 204, description = "Blocked (a repeat is 204 and records nothing).", headers(("X-Consistency-Token" = String))),
        (status = 400, body = ErrorBody, description = "`invalid_input`: not a username, or oneself."),
        (status = 403, body = ErrorBody, description = "`forbidden`: the caller is not a patient or a clinician, or an approval links the two."),
        (status = 404, body = ErrorBody, description = "`not_found`: no such user.")))]
pub async fn block_user(
    State(state): State<CommandState>,
    caller: Caller,
    metadata: EventMetadata,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    let command = BlockCommand::Block {
        blocker: caller.username.clone(),
        blocked: user.clone(),
        at: now(),
    };
    run(&state, &caller, &user, command, "block", &metadata).await
}

/// The caller lifts their block of `user`.
#[utoipa::path(delete, path = "/api/messages/block/{user}", tag = "patient controls",
    params(("user" = String, Path, description = "The blocked user.")),
    responses((status = 204, description = "Not blocked any more (a repeat is 204 and records nothing).", headers(("X-Consistency-Token" = String))),
        (status = 400, body = ErrorBody, description = "`invalid_input`: not a username, or oneself."),
        (status = 404, body = ErrorBody, description = "`not_found`: no such user.")))]
pub async fn unblock_user(
    State(state): State<CommandState>,
    caller: Caller,
    metadata: EventMetadata,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    let command = BlockCommand::Unblock {
        blocker: caller.username.clone(),
        blocked: user.clone(),
        at: now(),
    };
    run(&state, &caller, &user, command, "unblock", &metadata).await
}

async fn run(
    state: &CommandState,
    caller: &Caller,
    user: &str,
    command: BlockCommand,
    name: &'static str,
    metadata: &EventMetadata,
) -> Result<Response, ApiError> {
    let stream = block_stream(&caller.username, user);
    let done = execute_on::<Block>(&state.writer(), name, &stream, command, metadata).await?;
    Ok(with_token(done.position, StatusCode::NO_CONTENT))
}
