//! The raw counterpart of the replay: PostgreSQL alone building the same four read tables from
//! the log with set-based SQL (one statement per table), into a scratch schema made by the
//! same `create_read_model(..)` as the live tables, so the indexes and constraints are the same.
//! It folds the final state directly (it does not apply events one by one), so it is the
//! ceiling of what a replay could reach on this machine.

use std::time::Instant;

use sqlx::PgPool;

use crate::error::BenchResult;
use crate::replay::ReplayFigure;

const SCHEMA: &str = "bench_raw_replay";

const FATE: &str = "
    sent AS (
        SELECT e.aggregate_id, e.payload -> 'MessageSent' AS p FROM events e
        WHERE e.aggregate_type = 'message' AND e.event_type = 'MessageSent'),
    fate AS (
        SELECT aggregate_id,
               min((payload -> 'MessageRead' ->> 'read_at')::timestamptz) AS read_at,
               bool_or(event_type IN ('MessageDeletedBySender', 'MessageHidden')) AS by_sender,
               bool_or(event_type IN ('MessageDeletedByRecipient', 'MessageHidden'))
                   AS by_recipient,
               max((payload -> 'MessageHidden' ->> 'deleted_at')::timestamptz) AS hidden_at
        FROM events
        WHERE aggregate_type = 'message' AND event_type <> 'MessageSent'
        GROUP BY aggregate_id)";

fn mailbox_sql() -> String {
    format!(
        "WITH {FATE}
         INSERT INTO {SCHEMA}.mailbox (owner, message_id, counterpart, direction, subject,
             content, parent_message_id, sent_at, read_at, deleted, search)
         SELECT side.owner, (s.p ->> 'message_id')::uuid, side.counterpart, side.direction,
                s.p ->> 'subject', s.p ->> 'content', (s.p ->> 'parent_message_id')::uuid,
                (s.p ->> 'sent_at')::timestamptz, f.read_at,
                CASE side.direction WHEN 'sent' THEN coalesce(f.by_sender, false)
                                    ELSE coalesce(f.by_recipient, false) END,
                setweight(to_tsvector('english', coalesce(s.p ->> 'subject', '')), 'A')
                || setweight(to_tsvector('english', s.p ->> 'content'), 'B')
         FROM sent s
         LEFT JOIN fate f ON f.aggregate_id = s.aggregate_id
         CROSS JOIN LATERAL (VALUES (s.p ->> 'sender', s.p ->> 'recipient', 'sent'),
                                    (s.p ->> 'recipient', s.p ->> 'sender', 'received'))
             AS side (owner, counterpart, direction)"
    )
}

fn messages_sql() -> String {
    format!(
        "WITH {FATE}
         INSERT INTO {SCHEMA}.messages (id, sender_username, recipient_username, subject,
             content, parent_message_id, is_read, read_at, sent_at, is_deleted_by_sender,
             is_deleted_by_recipient, deleted_at, created_at, updated_at)
         SELECT (s.p ->> 'message_id')::uuid, s.p ->> 'sender', s.p ->> 'recipient',
                s.p ->> 'subject', s.p ->> 'content', (s.p ->> 'parent_message_id')::uuid,
                f.read_at IS NOT NULL, f.read_at AT TIME ZONE 'UTC',
                (s.p ->> 'sent_at')::timestamptz AT TIME ZONE 'UTC',
                coalesce(f.by_sender, false), coalesce(f.by_recipient, false),
                f.hidden_at AT TIME ZONE 'UTC',
                (s.p ->> 'sent_at')::timestamptz AT TIME ZONE 'UTC',
                greatest((s.p ->> 'sent_at')::timestamptz, f.read_at, f.hidden_at)
                    AT TIME ZONE 'UTC'
         FROM sent s LEFT JOIN fate f ON f.aggregate_id = s.aggregate_id"
    )
}

fn summaries_sql() -> [String; 2] {
    [
        format!(
            "INSERT INTO {SCHEMA}.conversations
                 (owner, counterpart, last_message_id, last_activity_at, unread_count)
             SELECT DISTINCT ON (owner, counterpart) owner, counterpart, message_id, sent_at,
                    count(*) FILTER (WHERE direction = 'received' AND read_at IS NULL)
                        OVER (PARTITION BY owner, counterpart)
             FROM {SCHEMA}.mailbox WHERE NOT deleted
             ORDER BY owner, counterpart, sent_at DESC, message_id DESC"
        ),
        format!(
            "INSERT INTO {SCHEMA}.unread_counters (owner, unread)
             SELECT owner, count(*) FROM {SCHEMA}.mailbox
             WHERE direction = 'received' AND read_at IS NULL AND NOT deleted
             GROUP BY owner"
        ),
    ]
}

/// Builds the four read tables from the log with set-based SQL and times it; drops them after.
pub async fn raw_replay(pool: &PgPool) -> BenchResult<ReplayFigure> {
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await?;
    let mut conn = pool.acquire().await?;
    for statement in [
        format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"),
        format!("CREATE SCHEMA {SCHEMA}"),
    ] {
        sqlx::query(&statement).execute(&mut *conn).await?;
    }
    for projection in ["messages", "mailbox"] {
        sqlx::query("SELECT create_read_model($1, $2)")
            .bind(projection)
            .bind(SCHEMA)
            .execute(&mut *conn)
            .await?;
    }
    let started = Instant::now();
    let [conversations, counters] = summaries_sql();
    for statement in [messages_sql(), mailbox_sql(), conversations, counters] {
        sqlx::query(&statement).execute(&mut *conn).await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    sqlx::query(&format!("DROP SCHEMA {SCHEMA} CASCADE"))
        .execute(&mut *conn)
        .await?;
    Ok(ReplayFigure {
        events,
        projections: 2,
        seconds,
        events_per_second: events as f64 / seconds.max(1e-9),
    })
}
