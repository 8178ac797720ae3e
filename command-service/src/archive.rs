//! Archiving a conversation (`API.md`, "Patient controls"):
//! `POST` and `DELETE /api/messages/conversation/{user}/archive`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use events::{archive_stream, ArchiveCommand, ConversationArchive};
use http_edge::{ApiError, Caller, ErrorBody};

use crate::messages::{now, with_token};
use crate::metadata::EventMetadata;
use crate::state::CommandState;
use crate::streams::execute_on;

/// The caller archives their conversation with `user`: it leaves their inbox (kept and
/// searchable) until they unarchive it or `user` writes again.
#[utoipa::path(post, path = "/api/messages/conversation/{user}/archive", tag = "patient controls",
    params(("user" = String, Path, description = "The counterpart of the conversation.")),
    responses((status = 204, description = "Archived.", headers(("X-Consistency-Token" = String))),
        (status = 400, body = ErrorBody, description = "`invalid_input`: not a username, or oneself."),
        (status = 404, body = ErrorBody, description = "`not_found`: no such user.")))]
pub async fn archive_conversation(
    state: State<CommandState>,
    caller: Caller,
    metadata: EventMetadata,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    run(state, caller, metadata, user, true).await
}

/// The caller brings their conversation with `user` back to the inbox.
#[utoipa::path(delete, path = "/api/messages/conversation/{user}/archive", tag = "patient controls",
    params(("user" = String, Path, description = "The counterpart of the conversation.")),
    responses((status = 204, description = "Back in the inbox.", headers(("X-Consistency-Token" = String))),
        (status = 400, body = ErrorBody, description = "`invalid_input`: not a username, or oneself."),
        (status = 404, body = ErrorBody, description = "`not_found`: no such user.")))]
pub async fn unarchive_conversation(
    state: State<CommandState>,
    caller: Caller,
    metadata: EventMetadata,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    run(state, caller, metadata, user, false).await
}

async fn run(
    State(state): State<CommandState>,
    caller: Caller,
    metadata: EventMetadata,
    user: String,
    archive: bool,
) -> Result<Response, ApiError> {
    let stream = archive_stream(&caller.username, &user);
    let command = ArchiveCommand {
        owner: caller.username.clone(),
        counterpart: user,
        archive,
        at: now(),
    };
    let name = if archive { "archive" } else { "unarchive" };
    let done =
        execute_on::<ConversationArchive>(&state.writer(), name, &stream, command, &metadata)
            .await?;
    Ok(with_token(done.position, StatusCode::NO_CONTENT))
}
