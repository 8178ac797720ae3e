//! `GET /api/me/export`: the caller's copy of their records (GDPR articles 15 and 20), streamed.
//!
//! The answer is one JSON document written as it is read: a task reads the caller's messages
//! through a portal, [`PORTAL_ROWS`] rows at a time, in one read-only transaction (one snapshot
//! for the whole document), and hands the body to the client through a channel of
//! [`CHANNEL_CHUNKS`] chunks: memory stays flat whatever the number of messages, and a client
//! that stops reading stops the reading. At most [`MAX_EXPORTS`] run at once per process (each
//! holds a read connection for its duration); one more answers 503 with `Retry-After`.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use http_edge::{ApiError, Caller};
use read_side::Projection;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::access::Read;
use crate::handlers::composer::{blocked_user, scheduled_entry, template, BlockedUser, Template};
use crate::sql;
use crate::state::QueryState;

/// Rows read per round trip.
pub const PORTAL_ROWS: i32 = 500;
/// Chunks (one per round trip of rows) buffered between the reader and the client.
pub const CHANNEL_CHUNKS: usize = 4;
/// Exports one process runs at once.
pub const MAX_EXPORTS: usize = 4;

/// A message of the export: everything about it that the caller may know, and their own
/// deletion of it (`deleted`: they removed it from their view; it is still their record).
#[derive(Serialize)]
struct ExportedMessage {
    message_id: Uuid,
    sender: String,
    recipient: String,
    subject: Option<String>,
    content: String,
    parent_message_id: Option<Uuid>,
    sent_at: DateTime<Utc>,
    read_at: Option<DateTime<Utc>>,
    deleted: bool,
    /// When an administrator erased it (subject and content are then blank).
    erased_at: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
struct ExportedUser<'a> {
    username: &'a str,
    role: String,
    display_name: &'a str,
}

/// Why an export stopped half way (the client sees a truncated document; the log says why).
#[derive(Debug, thiserror::Error)]
enum ExportError {
    #[error(transparent)]
    Database(#[from] tokio_postgres::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error("the client went away")]
    Gone,
}

/// The caller's messages (sent and received, deleted by them or not), blocks, templates and
/// scheduled messages, as one JSON attachment.
#[utoipa::path(get, path = "/api/me/export", tag = "records rights",
    params(("X-Consistency-Token" = Option<String>, Header,
            description = "wait (up to CONSISTENCY_WAIT_MS, then 503) until this command's effect is in the export")),
    responses((status = 200, content_type = "application/json",
            description = "`{user, generated_at, messages: [{message_id, sender, recipient, subject, content, parent_message_id, sent_at, read_at, deleted, erased_at}], blocked, templates, scheduled}` as an attachment, streamed: every message the caller sent or received (`deleted`: they deleted it from their view), oldest first."),
        (status = 400, body = http_edge::ErrorBody, description = "`invalid_input`: a malformed X-Consistency-Token."),
        (status = 503, body = http_edge::ErrorBody, description = "`unavailable`: too many exports at once, the read side is not reachable, or the token was not reached in time; retry after `Retry-After`.")))]
pub async fn get_export(
    State(state): State<QueryState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let permit = state.export_permit()?;
    let client = state
        .primary_for(&headers, &[Projection::Messages, Projection::Composer])
        .await?;
    state.record_read(&caller, Read::of("records_exported", Vec::new()))?;
    let (sender, receiver) = mpsc::channel::<Bytes>(CHANNEL_CHUNKS);
    let user = caller.username.clone();
    let head = serde_json::to_vec(&ExportedUser {
        username: &caller.username,
        role: caller.role.to_string(),
        display_name: &caller.display_name,
    })
    .map_err(ApiError::internal)?;
    tokio::spawn(async move {
        let _permit = permit;
        let mut client = client;
        if let Err(err) = write(&mut client, &user, head, &sender).await {
            match err {
                ExportError::Gone => tracing::info!(%user, "export abandoned by the client"),
                err => tracing::error!(%user, error = %err, "export failed half way"),
            }
        }
    });
    let chunks = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|chunk| (Ok::<Bytes, Infallible>(chunk), receiver))
    });
    let filename = format!(
        "attachment; filename=\"healing-space-{}-{}.json\"",
        caller.username,
        Utc::now().format("%Y%m%d")
    );
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(value) = HeaderValue::from_str(&filename) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Writes the document to `sender`, chunk by chunk, from one snapshot.
async fn write(
    client: &mut deadpool_postgres::Object,
    user: &str,
    head: Vec<u8>,
    sender: &mpsc::Sender<Bytes>,
) -> Result<(), ExportError> {
    let transaction = client
        .build_transaction()
        .read_only(true)
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .start()
        .await?;
    let mut chunk = b"{\"user\":".to_vec();
    chunk.extend_from_slice(&head);
    chunk.extend_from_slice(b",\"generated_at\":");
    serde_json::to_writer(&mut chunk, &Utc::now())?;
    chunk.extend_from_slice(b",\"messages\":[");
    stream_rows(
        &transaction,
        sql::EXPORT_MESSAGES,
        user,
        &mut chunk,
        sender,
        message,
    )
    .await?;
    chunk.extend_from_slice(b"],\"blocked\":");
    let blocked: Vec<BlockedUser> = transaction
        .query(sql::BLOCKED, &[&user])
        .await?
        .iter()
        .map(blocked_user)
        .collect::<Result<_, _>>()?;
    serde_json::to_writer(&mut chunk, &blocked)?;
    chunk.extend_from_slice(b",\"templates\":");
    let templates: Vec<Template> = transaction
        .query(sql::TEMPLATES, &[&user])
        .await?
        .iter()
        .map(template)
        .collect::<Result<_, _>>()?;
    serde_json::to_writer(&mut chunk, &templates)?;
    chunk.extend_from_slice(b",\"scheduled\":[");
    stream_rows(
        &transaction,
        sql::EXPORT_SCHEDULED,
        user,
        &mut chunk,
        sender,
        scheduled_entry,
    )
    .await?;
    chunk.extend_from_slice(b"]}\n");
    send(sender, &mut chunk).await?;
    transaction.commit().await?;
    Ok(())
}

/// Writes the rows of `statement` (for `user`) as JSON array items, [`PORTAL_ROWS`] at a time,
/// each batch handed to the client before the next is read.
async fn stream_rows<T: Serialize>(
    transaction: &deadpool_postgres::Transaction<'_>,
    statement: &str,
    user: &str,
    chunk: &mut Vec<u8>,
    sender: &mpsc::Sender<Bytes>,
    item: fn(&Row) -> Result<T, tokio_postgres::Error>,
) -> Result<(), ExportError> {
    let statement = transaction.prepare_cached(statement).await?;
    let portal = transaction.bind(&statement, &[&user]).await?;
    let mut first = true;
    loop {
        let rows = transaction.query_portal(&portal, PORTAL_ROWS).await?;
        for row in &rows {
            if !first {
                chunk.push(b',');
            }
            first = false;
            serde_json::to_writer(&mut *chunk, &item(row)?)?;
        }
        send(sender, chunk).await?;
        if rows.len() < PORTAL_ROWS as usize {
            return Ok(());
        }
    }
}

/// One row of [`sql::EXPORT_MESSAGES`] (the `messages` table keeps UTC times without a zone).
fn message(row: &Row) -> Result<ExportedMessage, tokio_postgres::Error> {
    let utc = |t: NaiveDateTime| t.and_utc();
    Ok(ExportedMessage {
        message_id: row.try_get(0)?,
        sender: row.try_get(1)?,
        recipient: row.try_get(2)?,
        subject: row.try_get(3)?,
        content: row.try_get(4)?,
        parent_message_id: row.try_get(5)?,
        sent_at: utc(row.try_get(6)?),
        read_at: row.try_get::<_, Option<NaiveDateTime>>(7)?.map(utc),
        deleted: row.try_get(8)?,
        erased_at: row.try_get::<_, Option<NaiveDateTime>>(9)?.map(utc),
    })
}

/// Hands the chunk written so far to the client (waiting while the client is behind).
async fn send(sender: &mpsc::Sender<Bytes>, chunk: &mut Vec<u8>) -> Result<(), ExportError> {
    if chunk.is_empty() {
        return Ok(());
    }
    let bytes = Bytes::from(std::mem::take(chunk));
    sender.send(bytes).await.map_err(|_| ExportError::Gone)
}
