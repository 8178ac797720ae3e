//! The raw-PostgreSQL side: scratch tables in the benchmark's own database and the pgbench
//! scripts that do the service's work with SQL alone.
//!
//! The read scripts are the query service's own statements (`query_service::sql`), bound to
//! the probe of each pgbench client: client `k` uses probe `k + 1` of `bench_probes`, the same
//! user as service client `k`.

use sqlx::PgPool;

use crate::data::csv::metadata_json;
use crate::data::{GeneratedEvent, Generator, Population};
use crate::error::BenchResult;
use crate::scenarios::queries::{Probe, QueryKind};

/// Payloads the append script picks from (real generated `MessageSent` events).
const PAYLOADS: usize = 1000;

/// Creates `bench_probes`, `bench_raw_payloads` and `bench_raw_events` (a copy of `events`
/// with its defaults, identity, constraints and indexes, and its rows).
pub async fn prepare(pool: &PgPool, probes: &[Probe], population: &Population) -> BenchResult<()> {
    sqlx::query(
        "CREATE TABLE bench_probes (idx int PRIMARY KEY, username text NOT NULL,
             counterpart text NOT NULL, word text NOT NULL)",
    )
    .execute(pool)
    .await?;
    for (i, probe) in probes.iter().enumerate() {
        sqlx::query("INSERT INTO bench_probes VALUES ($1, $2, $3, $4)")
            .bind(i32::try_from(i + 1).unwrap_or(i32::MAX))
            .bind(&probe.username)
            .bind(&probe.counterpart)
            .bind(&probe.word)
            .execute(pool)
            .await?;
    }
    sqlx::query(
        "CREATE TABLE bench_raw_payloads (idx int PRIMARY KEY, payload jsonb NOT NULL,
             metadata jsonb NOT NULL)",
    )
    .execute(pool)
    .await?;
    let sent: Vec<GeneratedEvent> =
        Generator::new(population.clone(), PAYLOADS as u64, 99, chrono::Utc::now())
            .filter(|e| e.sequence == 1)
            .take(PAYLOADS)
            .collect();
    for (i, event) in sent.iter().enumerate() {
        sqlx::query("INSERT INTO bench_raw_payloads VALUES ($1, $2::jsonb, $3::jsonb)")
            .bind(i32::try_from(i + 1).unwrap_or(i32::MAX))
            .bind(serde_json::to_string(&event.event)?)
            .bind(metadata_json(population, event)?)
            .execute(pool)
            .await?;
    }
    sqlx::query("CREATE TABLE bench_raw_events (LIKE events INCLUDING ALL)")
        .execute(pool)
        .await?;
    sqlx::query("INSERT INTO bench_raw_events OVERRIDING SYSTEM VALUE SELECT * FROM events")
        .execute(pool)
        .await?;
    sqlx::query(
        "SELECT setval(pg_get_serial_sequence('bench_raw_events', 'global_position'),
                       (SELECT coalesce(max(global_position), 0) + 1 FROM bench_raw_events))",
    )
    .execute(pool)
    .await?;
    // Only the new tables: the read tables keep the statistics the service's steps had.
    sqlx::raw_sql("VACUUM ANALYZE bench_raw_events, bench_raw_payloads, bench_probes")
        .execute(pool)
        .await?;
    crate::database::checkpoint(pool).await;
    Ok(())
}

/// One event row per transaction, as postgres-es appends a new message's first event.
pub fn append_script() -> String {
    format!(
        "\\set i random(1, {PAYLOADS})
INSERT INTO bench_raw_events
    (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
SELECT 'message', gen_random_uuid()::text, 1, 'MessageSent', '1.0', payload, metadata
FROM bench_raw_payloads WHERE idx = :i;
"
    )
}

/// The SQL of one read, for the probe of the pgbench client: the query service's own
/// statements (`query_service::sql`), with the caller and the other parameters taken from the
/// client's probe, the first-page keyset positions and `limit + 1` = 21 rows, as the handlers
/// bind them for a first page of the default size.
pub fn read_script(kind: QueryKind) -> String {
    use query_service::sql;
    let (statements, args): (&[&str], &[&str]) = match kind {
        QueryKind::Inbox => (
            &[sql::INBOX, sql::UNREAD],
            &[OWNER, LAST_TIME, "''", ROWS, "false"],
        ),
        QueryKind::Sent => (&[sql::SENT], &[OWNER, LAST_TIME, LAST_ID, ROWS]),
        QueryKind::Conversation => (
            &[sql::USER, sql::CONVERSATION],
            &[OWNER, COUNTERPART, LAST_TIME, LAST_ID, ROWS],
        ),
        QueryKind::Search => (
            &[sql::SEARCH],
            &[OWNER, WORD, "'Infinity'", LAST_TIME, LAST_ID, ROWS],
        ),
    };
    let mut script = String::from("\\set i :client_id + 1\n");
    for (n, statement) in statements.iter().enumerate() {
        // The user check of a conversation is about the counterpart.
        let bound = if kind == QueryKind::Conversation && n == 0 {
            bind(statement, &[COUNTERPART])
        } else {
            bind(statement, args)
        };
        script.push_str(bound.trim());
        script.push_str(";\n");
    }
    script
}

const OWNER: &str = "(SELECT username FROM bench_probes WHERE idx = :i)";
const COUNTERPART: &str = "(SELECT counterpart FROM bench_probes WHERE idx = :i)";
const WORD: &str = "(SELECT word FROM bench_probes WHERE idx = :i)";
const LAST_TIME: &str = "'9999-12-31T00:00:00Z'::timestamptz";
const LAST_ID: &str = "'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid";
const ROWS: &str = "21";

/// `statement` with `$1`, `$2`, ... replaced by `args` (highest number first, so `$1` never
/// eats the start of `$10`).
fn bind(statement: &str, args: &[&str]) -> String {
    args.iter()
        .enumerate()
        .rev()
        .fold(statement.to_owned(), |sql, (i, arg)| {
            sql.replace(&format!("${}", i + 1), arg)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_scripts_are_the_query_services_statements_with_no_placeholder_left() {
        for kind in [
            QueryKind::Inbox,
            QueryKind::Sent,
            QueryKind::Conversation,
            QueryKind::Search,
        ] {
            let script = read_script(kind);
            assert!(!script.contains('$'), "{script}");
            assert!(script.contains("bench_probes WHERE idx = :i"), "{script}");
        }
        assert!(read_script(QueryKind::Search).contains("ts_headline"));
    }
}
