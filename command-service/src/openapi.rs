//! The command API's OpenAPI description, generated from the handlers' annotations.

use utoipa::OpenApi;

use crate::{admin, archive, blocks, broadcast, erasure, messages, receipts, scheduled, templates};

#[derive(OpenApi)]
#[openapi(
    paths(
        http_edge::routes::login,
        http_edge::routes::logout,
        messages::send_message,
        messages::reply_to_message,
        messages::send_clinician_message,
        receipts::mark_read,
        receipts::mark_conversation_read,
        receipts::delete_message,
        receipts::restore_message,
        erasure::erase_message,
        erasure::set_hold,
        templates::create_template,
        templates::change_template,
        templates::delete_template,
        scheduled::schedule_message,
        scheduled::change_scheduled,
        scheduled::cancel_scheduled,
        broadcast::broadcast,
        blocks::block_user,
        blocks::unblock_user,
        archive::archive_conversation,
        archive::unarchive_conversation,
        admin::create_user,
        admin::set_patient_approval,
        admin::disable_user,
        admin::enable_user,
    ),
    components(schemas(http_edge::ErrorBody, http_edge::ErrorDetail)),
    tags((name = "commands", description = "Changes to messages; each answers X-Consistency-Token"),
         (name = "admin", description = "Administration"),
         (name = "clinician tools", description = "Templates, scheduled messages and broadcasts"),
         (name = "patient controls", description = "Blocking and archiving"),
         (name = "sessions", description = "Login, logout and CSRF"))
)]
struct CommandApi;

/// The command API as OpenAPI 3.1.
pub fn openapi() -> utoipa::openapi::OpenApi {
    CommandApi::openapi()
}
