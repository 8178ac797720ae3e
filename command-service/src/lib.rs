//! The command side of Healing Space messaging.
//!
//! Each handler authenticates and authorizes through `http-edge` (session, CSRF, rate limits in
//! the API's order), turns the request into a domain command, and runs it through the cqrs-es
//! framework backed by postgres-es, so every accepted change is an event in the log. Answers carry
//! `X-Consistency-Token` (the [`events::LogPosition`] of the command's last event) so a later query
//! can wait for the read models to catch up, and a [`CommitSignal`] wakes the projector after each
//! commit.

mod admin;
mod app;
mod archive;
mod batch;
mod blocks;
mod broadcast;
pub mod erasure;
mod execute;
mod idempotency;
mod messages;
mod metadata;
mod openapi;
mod receipts;
mod scheduled;
pub mod scheduler;
mod signal;
mod state;
mod store;
pub mod streams;
mod templates;

pub use app::{Application, CommandSettings};
pub use execute::ExecuteError;
pub use metadata::EventMetadata;
pub use openapi::openapi;
pub use signal::CommitSignal;
pub use state::CommandState;
pub use store::EVENTS_OF_AGGREGATE;
pub use streams::Writer;

use axum::routing::{delete, patch, post, put};
use axum::Router;

/// The command routes with their state, without the common layers (the gateway merges routers
/// and applies `http_edge::common_layers` once).
pub fn routes(state: CommandState) -> Router {
    Router::new()
        .route("/api/messages/send", post(messages::send_message))
        .route("/api/messages/{id}/reply", post(messages::reply_to_message))
        .route(
            "/api/clinician/message",
            post(messages::send_clinician_message),
        )
        .route("/api/messages/templates", post(templates::create_template))
        .route(
            "/api/messages/templates/{id}",
            put(templates::change_template).delete(templates::delete_template),
        )
        .route("/api/messages/scheduled", post(scheduled::schedule_message))
        .route(
            "/api/messages/scheduled/{id}",
            patch(scheduled::change_scheduled).delete(scheduled::cancel_scheduled),
        )
        .route(
            "/api/clinician/messages/broadcast",
            post(broadcast::broadcast),
        )
        .route(
            "/api/messages/conversation/{user}/archive",
            post(archive::archive_conversation).delete(archive::unarchive_conversation),
        )
        .route(
            "/api/messages/block/{user}",
            post(blocks::block_user).delete(blocks::unblock_user),
        )
        .route("/api/messages/{id}/read", patch(receipts::mark_read))
        .route(
            "/api/messages/conversation/{user}/read",
            post(receipts::mark_conversation_read),
        )
        .route("/api/messages/{id}", delete(receipts::delete_message))
        .route(
            "/api/admin/messages/{id}/restore",
            post(receipts::restore_message),
        )
        .route(
            "/api/admin/messages/{id}/erase",
            post(erasure::erase_message),
        )
        .route("/api/admin/messages/{id}/hold", put(erasure::set_hold))
        .route("/api/admin/users", post(admin::create_user))
        .route("/api/admin/users/{user}/disable", post(admin::disable_user))
        .route("/api/admin/users/{user}/enable", post(admin::enable_user))
        .route(
            "/api/admin/patient-approvals",
            put(admin::set_patient_approval),
        )
        .merge(http_edge::session_command_routes())
        .with_state(state)
}

/// The command routes as a complete service (with the common layers), for the standalone
/// binary and for tests.
pub fn app(state: CommandState) -> Router {
    let body_limit = state.edge.settings.body_limit_bytes;
    http_edge::common_layers(http_edge::api_fallbacks(routes(state)), body_limit)
}
