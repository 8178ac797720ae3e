//! The query half of the OpenAPI document (the gateway merges it with the command half).

use utoipa::OpenApi;

use crate::handlers::{
    access_log, admin, audit_log, clinician, composer, conversation, disclosures, export, inbox,
    recipients, search, sent, unread,
};

#[derive(OpenApi)]
#[openapi(
    paths(
        inbox::get_inbox,
        sent::get_sent,
        conversation::get_conversation,
        search::search_messages,
        recipients::search_recipients,
        unread::get_unread_count,
        clinician::get_patients,
        clinician::get_triage,
        composer::get_templates,
        composer::get_scheduled,
        composer::get_blocked,
        export::get_export,
        disclosures::get_disclosures,
        admin::get_deleted_messages,
        audit_log::get_audit_log,
        access_log::get_access_log,
        crate::notifications::get_stream,
    ),
    components(schemas(http_edge::ErrorBody, http_edge::ErrorDetail)),
    tags((name = "queries", description = "Reads over the read models; \
        eventually consistent unless X-Consistency-Token is sent"))
)]
struct QueryApi;

/// The OpenAPI description of the query endpoints.
pub fn openapi() -> utoipa::openapi::OpenApi {
    QueryApi::openapi()
}
