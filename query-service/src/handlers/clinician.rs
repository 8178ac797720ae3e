//! `GET /api/clinician/patients`: a clinician's approved patients with their message state;
//! `GET /api/clinician/triage`: the same patients, the longest-waiting first.

use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use events::Role;
use http_edge::{ApiError, ApiJson, Caller};
use read_side::Projection;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::ToSchema;

use crate::access::Read;
use crate::db::{col, db_error};
use crate::sql;
use crate::state::QueryState;

/// `GET /api/clinician/patients` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PatientsResponse {
    pub patients: Vec<PatientSummary>,
}

/// One approved patient.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PatientSummary {
    pub username: String,
    pub display_name: String,
    /// Unread messages from this patient to the clinician.
    pub unread_count: i64,
    /// The newest message between them that the clinician can see.
    pub last_message_at: Option<DateTime<Utc>>,
}

/// The calling clinician's approved patients, by username.
#[utoipa::path(get, path = "/api/clinician/patients", tag = "queries",
    params(("X-Consistency-Token" = Option<String>, Header,
        description = "wait (up to CONSISTENCY_WAIT_MS, then 503) until this command's effect is visible")),
    responses((status = 200, description = "The clinician's approved patients, by username.", body = PatientsResponse),
        (status = 400, body = http_edge::ErrorBody, description = "`invalid_input`: a malformed X-Consistency-Token."),
        (status = 403, body = http_edge::ErrorBody, description = "`forbidden`: clinicians only.")))]
pub async fn get_patients(
    State(state): State<QueryState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<ApiJson<PatientsResponse>, ApiError> {
    let rows = clinician_rows(&state, &caller, &headers, sql::PATIENTS, "patients").await?;
    let patients = rows
        .iter()
        .map(|row| {
            Ok(PatientSummary {
                username: col(row, 0)?,
                display_name: col(row, 1)?,
                unread_count: i64::from(col::<i32>(row, 2)?),
                last_message_at: col(row, 3)?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    state.record_read(
        &caller,
        Read {
            result_count: patients.len(),
            ..Read::of("patients_listed", Vec::new())
        },
    )?;
    Ok(ApiJson(PatientsResponse { patients }))
}

/// `GET /api/clinician/triage` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TriageResponse {
    pub patients: Vec<TriageEntry>,
}

/// One approved patient in the triage.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TriageEntry {
    pub username: String,
    pub display_name: String,
    /// Unread messages from this patient to the clinician.
    pub unread_from_patient: i64,
    /// When the oldest patient message not yet followed by a message of this clinician to the
    /// patient was sent; null when none waits.
    pub waiting_since: Option<DateTime<Utc>>,
    /// The newest message between them that the clinician can see.
    pub last_message_at: Option<DateTime<Utc>>,
    /// The median time, in minutes, from a patient's waiting message to the clinician's next
    /// message, over answers of the last 90 days; null without any.
    pub median_reply_minutes: Option<f64>,
}

/// The calling clinician's approved patients, the longest-waiting first.
#[utoipa::path(get, path = "/api/clinician/triage", tag = "queries",
    params(("X-Consistency-Token" = Option<String>, Header,
        description = "wait (up to CONSISTENCY_WAIT_MS, then 503) until this command's effect is visible")),
    responses((status = 200, description = "The clinician's approved patients: those waiting for an answer first (the longest wait first), then by the most recent activity, then by username.", body = TriageResponse),
        (status = 400, body = http_edge::ErrorBody, description = "`invalid_input`: a malformed X-Consistency-Token."),
        (status = 403, body = http_edge::ErrorBody, description = "`forbidden`: clinicians only.")))]
pub async fn get_triage(
    State(state): State<QueryState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<ApiJson<TriageResponse>, ApiError> {
    let rows = clinician_rows(&state, &caller, &headers, sql::TRIAGE, "a triage").await?;
    let patients = rows
        .iter()
        .map(|row| {
            Ok(TriageEntry {
                username: col(row, 0)?,
                display_name: col(row, 1)?,
                unread_from_patient: i64::from(col::<i32>(row, 2)?),
                waiting_since: col(row, 3)?,
                last_message_at: col(row, 4)?,
                median_reply_minutes: col(row, 5)?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    state.record_read(
        &caller,
        Read {
            result_count: patients.len(),
            ..Read::of("triage_viewed", Vec::new())
        },
    )?;
    Ok(ApiJson(TriageResponse { patients }))
}

/// The rows of `statement` for the calling clinician (`$1`): 403 for anyone else, then the
/// consistency wait on the mailbox (both lists read its tables).
async fn clinician_rows(
    state: &QueryState,
    caller: &Caller,
    headers: &HeaderMap,
    statement: &str,
    what: &str,
) -> Result<Vec<Row>, ApiError> {
    if caller.role != Role::Clinician {
        return Err(ApiError::Forbidden(format!("only clinicians have {what}")));
    }
    let client = state.read_for(headers, &[Projection::Mailbox]).await?;
    let statement = client.prepare_cached(statement).await.map_err(db_error)?;
    client
        .query(&statement, &[&caller.username])
        .await
        .map_err(db_error)
}
