//! The raw-PostgreSQL side: scratch tables in the benchmark's own database and the pgbench
//! scripts that do the service's work with SQL alone.
//!
//! The read scripts mirror the SQL of the query service (`query-service/src`) over the read
//! tables of `migrations/sql/20261125001001_read_models.sql`; keep them in step when that SQL
//! changes. pgbench client `k` uses probe `k + 1` of `bench_probes`, the same user as service
//! client `k`.

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

/// The SQL of one read, for the probe of the pgbench client.
pub fn read_script(kind: QueryKind) -> &'static str {
    match kind {
        QueryKind::Inbox => INBOX,
        QueryKind::Sent => SENT,
        QueryKind::Conversation => CONVERSATION,
        QueryKind::Search => SEARCH,
    }
}

// The statements of `query-service/src/sql.rs`, with the caller (`$1`) and the other
// parameters taken from the client's probe, the first-page keyset positions and
// `limit + 1` = 21 rows, as the handlers bind them for a first page of the default size.

const INBOX: &str = "\\set i :client_id + 1
SELECT c.counterpart, u.role, u.display_name, c.unread_count, c.last_activity_at,
       m.message_id, m.direction, m.subject, left(m.content, 100), m.sent_at
FROM conversations c
JOIN mailbox m ON m.owner = c.owner AND m.message_id = c.last_message_id
LEFT JOIN users u ON u.username = c.counterpart
WHERE c.owner = (SELECT username FROM bench_probes WHERE idx = :i)
  AND (c.last_activity_at, c.counterpart) < ('9999-12-31T00:00:00Z'::timestamptz, '')
ORDER BY c.last_activity_at DESC, c.counterpart DESC
LIMIT 21;
SELECT coalesce((SELECT unread FROM unread_counters
                 WHERE owner = (SELECT username FROM bench_probes WHERE idx = :i)), 0);
";

const SENT: &str = "\\set i :client_id + 1
SELECT message_id, counterpart, subject, content, parent_message_id, sent_at, read_at
FROM mailbox
WHERE owner = (SELECT username FROM bench_probes WHERE idx = :i)
  AND direction = 'sent' AND NOT deleted
  AND (sent_at, message_id)
      < ('9999-12-31T00:00:00Z'::timestamptz, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)
ORDER BY sent_at DESC, message_id DESC
LIMIT 21;
";

const CONVERSATION: &str = "\\set i :client_id + 1
SELECT username FROM users WHERE username = (SELECT counterpart FROM bench_probes WHERE idx = :i);
SELECT message_id, direction, subject, content, parent_message_id, sent_at, read_at
FROM mailbox
WHERE owner = (SELECT username FROM bench_probes WHERE idx = :i)
  AND counterpart = (SELECT counterpart FROM bench_probes WHERE idx = :i)
  AND NOT deleted
  AND (sent_at, message_id)
      < ('9999-12-31T00:00:00Z'::timestamptz, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)
ORDER BY sent_at DESC, message_id DESC
LIMIT 21;
";

const SEARCH: &str = r#"\set i :client_id + 1
WITH q AS (
    SELECT string_agg(
               '''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || ''':*', ' & '
           )::tsquery AS query
    FROM unnest(to_tsvector('english', (SELECT word FROM bench_probes WHERE idx = :i)::text))
),
page AS (
    SELECT m.message_id, m.direction, m.counterpart, m.subject, m.content, m.sent_at,
           ts_rank(m.search, q.query) AS rank
    FROM q JOIN mailbox m ON m.search @@ q.query
    WHERE m.owner = (SELECT username FROM bench_probes WHERE idx = :i) AND NOT m.deleted
      AND (ts_rank(m.search, q.query), m.sent_at, m.message_id)
          < ('Infinity'::real, '9999-12-31T00:00:00Z'::timestamptz,
             'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)
    ORDER BY rank DESC, m.sent_at DESC, m.message_id DESC
    LIMIT 21
)
SELECT page.message_id, page.direction, page.counterpart, page.subject, page.sent_at,
       page.rank,
       ts_headline('english', translate(page.content, chr(1) || chr(2), ''), q.query,
                   'StartSel=' || chr(1) || ', StopSel=' || chr(2)
                   || ', MaxWords=30, MinWords=12, MaxFragments=2')
FROM page, q
ORDER BY page.rank DESC, page.sent_at DESC, page.message_id DESC;
"#;
