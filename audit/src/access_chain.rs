//! The access log's hash chain: `hash(n) = SHA-256(hash(n-1) ‖ canonical(row n))` from
//! [`GENESIS`], in `chain_seq` order. The database computes it as rows are appended (the
//! `access_log_link` trigger, under a lock, so every writer appends to one chain);
//! [`verify_access_log`] recomputes it here, from the columns alone, with this crate's own
//! canonical form (a changed SQL function cannot hide a change of the rows).

use std::fmt;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::chain::{hash_from_bytes, ChainHash, GENESIS};

/// The columns of one access-log row, as the chain covers them.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainedAccess {
    pub chain_seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub counterpart: Option<String>,
    pub message_ids: Vec<Uuid>,
    pub query_length: Option<i32>,
    pub result_count: i32,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub subjects: Vec<String>,
}

/// The canonical text of a row: the same as the database's `access_log_canonical` (fields
/// separated by U+001F; `-` for NULL and `+` before a value in the nullable ones).
pub fn canonical_access(row: &ChainedAccess) -> String {
    let optional = |v: &Option<String>| match v {
        None => "-".to_owned(),
        Some(v) => format!("+{v}"),
    };
    let ids: Vec<String> = row.message_ids.iter().map(Uuid::to_string).collect();
    [
        row.chain_seq.to_string(),
        row.occurred_at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        row.actor.clone(),
        row.role.clone(),
        row.action.clone(),
        optional(&row.counterpart),
        ids.join(","),
        optional(&row.query_length.map(|n| n.to_string())),
        row.result_count.to_string(),
        optional(&row.request_id),
        optional(&row.client_ip),
        optional(&row.user_agent),
        row.subjects.join(","),
    ]
    .join("\u{1f}")
}

/// The link after `previous` for `row`.
pub fn access_link(previous: &ChainHash, row: &ChainedAccess) -> ChainHash {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(canonical_access(row).as_bytes());
    hasher.finalize().into()
}

/// The first disagreement in the access log's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessProblem {
    /// The row's columns no longer hash to its hash: a row was edited.
    RowChanged { chain_seq: i64 },
    /// The chain skips from one place to a later one: rows were deleted.
    RowsMissing { after: i64, next: i64 },
    /// The row does not continue the previous one (a row inserted, or the order changed).
    ChainBroken { chain_seq: i64 },
}

impl fmt::Display for AccessProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccessProblem::RowChanged { chain_seq } => write!(
                f,
                "access log row {chain_seq}: its columns do not match its hash (row edited)"
            ),
            AccessProblem::RowsMissing { after, next } => write!(
                f,
                "access log: rows between {after} and {next} are missing (rows deleted)"
            ),
            AccessProblem::ChainBroken { chain_seq } => write!(
                f,
                "access log row {chain_seq}: does not continue the chain (row inserted or moved)"
            ),
        }
    }
}

/// What [`verify_access_log`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessReport {
    pub rows_checked: u64,
    pub head: Option<(i64, ChainHash)>,
    pub problem: Option<AccessProblem>,
}

/// Recomputes the access log's chain, row by row in `chain_seq` order, and stops at the first
/// disagreement. `progress` is told the rows checked so far.
pub async fn verify_access_log(
    pool: &PgPool,
    progress: impl Fn(u64),
) -> Result<AccessReport, crate::verify::VerifyError> {
    let mut rows = sqlx::query(
        "SELECT chain_seq, occurred_at, actor, role, action, counterpart, message_ids,
                query_length, result_count, request_id, client_ip, user_agent, subjects,
                prev_hash, hash
         FROM access_log ORDER BY chain_seq",
    )
    .fetch(pool);
    let mut report = AccessReport {
        rows_checked: 0,
        head: None,
        problem: None,
    };
    let (mut previous, mut last_seq) = (GENESIS, 0_i64);
    while let Some(row) = rows.try_next().await? {
        let access = ChainedAccess {
            chain_seq: row.try_get("chain_seq")?,
            occurred_at: row.try_get("occurred_at")?,
            actor: row.try_get("actor")?,
            role: row.try_get("role")?,
            action: row.try_get("action")?,
            counterpart: row.try_get("counterpart")?,
            message_ids: row.try_get("message_ids")?,
            query_length: row.try_get("query_length")?,
            result_count: row.try_get("result_count")?,
            request_id: row.try_get("request_id")?,
            client_ip: row.try_get("client_ip")?,
            user_agent: row.try_get("user_agent")?,
            subjects: row.try_get("subjects")?,
        };
        let seq = access.chain_seq;
        let stored_prev = hash_from_bytes(&row.try_get::<Vec<u8>, _>("prev_hash")?)
            .ok_or(crate::verify::VerifyError::MalformedHash(seq))?;
        let stored = hash_from_bytes(&row.try_get::<Vec<u8>, _>("hash")?)
            .ok_or(crate::verify::VerifyError::MalformedHash(seq))?;
        let problem = if seq > last_seq + 1 {
            Some(AccessProblem::RowsMissing {
                after: last_seq,
                next: seq,
            })
        } else if seq != last_seq + 1 || stored_prev != previous {
            Some(AccessProblem::ChainBroken { chain_seq: seq })
        } else if access_link(&previous, &access) != stored {
            Some(AccessProblem::RowChanged { chain_seq: seq })
        } else {
            None
        };
        if problem.is_some() {
            report.problem = problem;
            return Ok(report);
        }
        previous = stored;
        last_seq = seq;
        report.rows_checked += 1;
        report.head = Some((seq, stored));
        if report.rows_checked % 1000 == 0 {
            progress(report.rows_checked);
        }
    }
    progress(report.rows_checked);
    Ok(report)
}
