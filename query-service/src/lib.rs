//! The query side of Healing Space messaging: the read half of `API.md` over the read tables.
//!
//! [`routes`] gives the query endpoints (inbox, sent, conversation, search, unread count, a
//! clinician's patients, the admin's hidden messages, the auditors' audit log and access log)
//! plus `http_edge::session_query_routes()`,
//! with state applied and without the common layers (the gateway merges it with the command
//! routes and applies `http_edge::common_layers` once). [`Application`] runs it alone.
//!
//! Reads go through deadpool-postgres/tokio-postgres prepared statements (that driver's one job
//! here, with the `LISTEN hs_progress` of the [`ProgressTracker`]); sessions go through sqlx via
//! `http_edge`. Every statement filters by the caller in SQL and is an index scan bounded by the
//! page (keyset cursors, signed by a [`CursorKey`]). A request with `X-Consistency-Token` waits
//! until the projections it reads have passed that position (`CONSISTENCY_WAIT_MS`, then 503).
//!
//! With [`QueryState::with_access_log`], every answered read except the unread-count poll is
//! recorded in the access log (who read which message ids; a search's length, never its text)
//! through an `audit::access::AccessLogger`, off the request path.

mod access;
mod app;
mod consistency;
mod cursor;
mod db;
mod error;
mod handlers;
pub mod notifications;
mod openapi;
mod params;
mod progress;
mod replicas;
mod settings;
pub mod sql;
mod state;

pub use app::Application;
pub use cursor::CursorKey;
pub use db::{pg_config, pg_config_from_sqlx, read_pool};
pub use error::QueryError;
pub use handlers::{
    AccessLogEntry, AccessLogResponse, AuditLogEntry, AuditLogResponse, BlockedResponse,
    BlockedUser, ConversationResponse, ConversationSummary, DeletedMessage, DeletedResponse,
    InboxResponse, LastMessage, PatientSummary, PatientsResponse, Recipient, RecipientsResponse,
    ScheduledEntry, ScheduledResponse, SearchHit, SearchResponse, SentMessage, SentResponse,
    Template, TemplatesResponse, ThreadMessage, TriageEntry, TriageResponse, UnreadCount,
};
pub use openapi::openapi;
pub use progress::ProgressTracker;
pub use replicas::{ReplicaSet, ReplicaStatus};
pub use settings::{QuerySettings, ReplicaSettings};
pub use state::QueryState;

use axum::routing::get;
use axum::Router;

/// The query routes with `state` applied, without common layers.
pub fn routes(state: QueryState) -> Router {
    use handlers::*;
    Router::new()
        .route("/api/messages/inbox", get(inbox::get_inbox))
        .route("/api/messages/sent", get(sent::get_sent))
        .route(
            "/api/messages/conversation/{user}",
            get(conversation::get_conversation),
        )
        .route("/api/messages/search", get(search::search_messages))
        .route(
            "/api/messages/search-recipients",
            get(recipients::search_recipients),
        )
        .route("/api/messages/unread-count", get(unread::get_unread_count))
        .route("/api/messages/templates", get(composer::get_templates))
        .route("/api/messages/scheduled", get(composer::get_scheduled))
        .route("/api/messages/blocked", get(composer::get_blocked))
        .route("/api/me/export", get(export::get_export))
        .route("/api/me/access-log", get(disclosures::get_disclosures))
        .route("/api/clinician/patients", get(clinician::get_patients))
        .route("/api/clinician/triage", get(clinician::get_triage))
        .route(
            "/api/admin/messages/deleted",
            get(admin::get_deleted_messages),
        )
        .route("/api/audit/log", get(audit_log::get_audit_log))
        .route("/api/audit/access", get(access_log::get_access_log))
        .route(
            "/api/notifications/stream",
            get(crate::notifications::get_stream),
        )
        .merge(http_edge::session_query_routes())
        .with_state(state)
}
