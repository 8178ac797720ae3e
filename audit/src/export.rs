//! `audit export`: everything the audit trail holds about one patient in a time range — the
//! events they took part in and the reads of their messages — as JSON lines or CSV.

use std::io::Write;

use chrono::{DateTime, NaiveDate, Utc};
use futures::TryStreamExt;
use serde_json::{json, Value};
use sqlx::{PgPool, Row};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
}

/// The earliest time an export without `--from` starts at: 0001-01-01 UTC. (chrono's own
/// `MIN_UTC` is outside PostgreSQL's `timestamptz` range, and binding it fails.)
pub fn earliest() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or_default()
}

/// The time an export without `--to` ends at: 10000-01-01 UTC, after every storable time.
pub fn latest() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(10_000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or_default()
}

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub patient: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub format: Format,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Its cause is the I/O error (`BrokenPipe` when the reader went away).
    #[error("writing the export failed")]
    Io(#[from] std::io::Error),
}

const COLUMNS: [&str; 11] = [
    "kind",
    "position",
    "occurred_at",
    "actor",
    "action",
    "message_id",
    "counterpart",
    "request_id",
    "client_ip",
    "user_agent",
    "details",
];

const EVENTS_SQL: &str = "SELECT 'event' AS kind, position, occurred_at, actor, action,
        message_id::text AS message_id, counterpart, request_id, client_ip, user_agent, details
    FROM audit_log
    WHERE (actor = $1 OR participants @> ARRAY[$1]) AND occurred_at >= $2 AND occurred_at < $3
    ORDER BY seq";

const ACCESS_SQL: &str = "SELECT 'access' AS kind, id AS position, occurred_at, actor, action,
        NULL::text AS message_id, counterpart, request_id, client_ip, user_agent,
        jsonb_build_object('message_ids', message_ids, 'result_count', result_count,
                           'query_length', query_length, 'role', role) AS details
    FROM access_log
    WHERE (actor = $1 OR counterpart = $1) AND occurred_at >= $2 AND occurred_at < $3
    ORDER BY id";

/// How many rows the export will write (for a progress bar).
pub async fn count(pool: &PgPool, request: &ExportRequest) -> Result<u64, ExportError> {
    let mut total = 0u64;
    for sql in [EVENTS_SQL, ACCESS_SQL] {
        let counted: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM ({sql}) rows"))
            .bind(&request.patient)
            .bind(request.from)
            .bind(request.to)
            .fetch_one(pool)
            .await?;
        total += counted.max(0) as u64;
    }
    Ok(total)
}

fn row_value(row: &sqlx::postgres::PgRow) -> Result<Value, sqlx::Error> {
    let occurred_at: DateTime<Utc> = row.try_get("occurred_at")?;
    Ok(json!({
        "kind": row.try_get::<String, _>("kind")?,
        "position": row.try_get::<i64, _>("position")?,
        "occurred_at": occurred_at,
        "actor": row.try_get::<Option<String>, _>("actor")?,
        "action": row.try_get::<String, _>("action")?,
        "message_id": row.try_get::<Option<String>, _>("message_id")?,
        "counterpart": row.try_get::<Option<String>, _>("counterpart")?,
        "request_id": row.try_get::<Option<String>, _>("request_id")?,
        "client_ip": row.try_get::<Option<String>, _>("client_ip")?,
        "user_agent": row.try_get::<Option<String>, _>("user_agent")?,
        "details": row.try_get::<Value, _>("details")?,
    }))
}

/// A CSV field: quoted when it holds a comma, quote or line break.
fn csv_field(value: &Value) -> String {
    let text = match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// Streams the export to `out`; calls `progress` with the rows written so far. Returns the
/// number of rows written.
pub async fn export(
    pool: &PgPool,
    request: &ExportRequest,
    out: &mut impl Write,
    mut progress: impl FnMut(u64),
) -> Result<u64, ExportError> {
    if request.format == Format::Csv {
        writeln!(out, "{}", COLUMNS.join(","))?;
    }
    let mut written = 0u64;
    for sql in [EVENTS_SQL, ACCESS_SQL] {
        let mut rows = sqlx::query(sql)
            .bind(&request.patient)
            .bind(request.from)
            .bind(request.to)
            .fetch(pool);
        while let Some(row) = rows.try_next().await? {
            let value = row_value(&row)?;
            match request.format {
                Format::Jsonl => writeln!(out, "{value}")?,
                Format::Csv => {
                    let fields: Vec<String> =
                        COLUMNS.iter().map(|c| csv_field(&value[*c])).collect();
                    writeln!(out, "{}", fields.join(","))?;
                }
            }
            written += 1;
            if written % 500 == 0 {
                progress(written);
            }
        }
    }
    progress(written);
    out.flush()?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field(&json!("plain")), "plain");
        assert_eq!(csv_field(&json!("a,b")), "\"a,b\"");
        assert_eq!(csv_field(&json!("say \"hi\"")), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field(&Value::Null), "");
        assert_eq!(csv_field(&json!({"k": 1})), "\"{\"\"k\"\":1}\"");
    }
}
