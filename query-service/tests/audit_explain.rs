//! Every variant of the audit statements, on 120,000 generated audit entries and 120,000
//! recorded reads, is planned as an index scan with no sequential scan, as a custom and as a
//! generic plan, on a first page and on a page deep in the log.

mod plans;

use query_service::{pg_config_from_sqlx, sql::audit as sql};
use sqlx::PgPool;
use tokio_postgres::NoTls;

type Result<T> = anyhow::Result<T>;

const ENTRIES: i64 = 120_000;

/// Fills `audit_log` and `access_log` from `generate_series` (what the projector and the
/// access logger would write for that much traffic: 1,000 users, four entries per message),
/// then analyzes them.
async fn generate(pool: &PgPool) -> Result<()> {
    for statement in [
        "INSERT INTO audit_log (seq, position, transaction_id, event_id, occurred_at, actor,
             action, message_id, counterpart, participants, request_id, client_ip, user_agent,
             details, prev_hash, hash)
         SELECT i, i, 1000 + i, gen_random_uuid(),
                timestamptz '2026-01-01 00:00:00+00' + i * interval '1 minute',
                'u' || (1 + i % 1000),
                (ARRAY['message_sent', 'message_sent', 'message_read', 'message_deleted_by_sender',
                       'message_deleted_by_recipient', 'message_hidden', 'message_restored'])
                    [1 + i % 7],
                md5((i / 4)::text)::uuid, 'u' || (1 + (7 * i + 13) % 1000),
                ARRAY['u' || (1 + i % 1000), 'u' || (1 + (7 * i + 13) % 1000)],
                md5(i::text), '10.0.' || (i % 250) || '.1', 'generated',
                jsonb_build_object('channel', 'direct'), '\\x00'::bytea, '\\x01'::bytea
         FROM generate_series(1, 120000) i",
        "INSERT INTO access_log (occurred_at, actor, role, action, counterpart, message_ids,
             query_length, result_count, request_id, client_ip, user_agent)
         SELECT timestamptz '2026-01-01 00:00:00+00' + i * interval '1 minute',
                'u' || (1 + i % 1000), 'patient',
                (ARRAY['conversation_viewed', 'search', 'inbox_listed', 'sent_listed'])[1 + i % 4],
                'u' || (1 + (7 * i + 13) % 1000),
                ARRAY[md5((i / 4)::text)::uuid, md5((i / 4 + 1)::text)::uuid],
                CASE WHEN i % 4 = 1 THEN 12 END, 2, md5(i::text), '10.0.0.1', 'generated'
         FROM generate_series(1, 120000) i",
        "ANALYZE audit_log",
        "ANALYZE access_log",
    ] {
        sqlx::query(statement).execute(pool).await?;
    }
    Ok(())
}

/// A statement's name, text, arguments and the index its plan must use.
type Case = (
    &'static str,
    &'static str,
    Vec<&'static str>,
    Option<&'static str>,
);

/// The arguments each statement is explained with, as SQL literals: a first page without
/// other filters, and a page deep in the log with every other filter set (where
/// a more selective index than the leading one may rightly be chosen).
fn cases() -> Vec<Case> {
    let (past, future) = ("'0001-01-01 00:00:00+00'", "'9999-12-31 00:00:00+00'");
    let (feb, mar) = ("'2026-02-01 00:00:00+00'", "'2026-03-01 00:00:00+00'");
    let message = "md5('4000')::uuid";
    let null = "NULL";
    vec![
        (
            "log_by_message",
            sql::LOG_BY_MESSAGE,
            vec![message, "0", null, null, null, null, "21"],
            Some("audit_log_message_idx"),
        ),
        (
            "log_by_message",
            sql::LOG_BY_MESSAGE,
            vec![message, "16001", "'u1'", "'message_read'", feb, mar, "21"],
            None,
        ),
        (
            "log_by_actor",
            sql::LOG_BY_ACTOR,
            vec!["'u7'", "0", null, null, null, "21"],
            Some("audit_log_actor_idx"),
        ),
        (
            "log_by_actor",
            sql::LOG_BY_ACTOR,
            vec!["'u7'", "60000", "'message_sent'", feb, mar, "21"],
            None,
        ),
        (
            "log_by_action",
            sql::LOG_BY_ACTION,
            vec!["'message_restored'", "0", null, null, "21"],
            Some("audit_log_action_idx"),
        ),
        (
            "log_by_action",
            sql::LOG_BY_ACTION,
            vec!["'message_sent'", "60000", feb, mar, "21"],
            None,
        ),
        (
            "log_by_time",
            sql::LOG_BY_TIME,
            vec![feb, "0", mar, "21"],
            Some("audit_log_time_idx"),
        ),
        (
            "log_by_time",
            sql::LOG_BY_TIME,
            vec![past, "0", future, "21"],
            None,
        ),
        (
            "log_all",
            sql::LOG_ALL,
            vec!["0", "21"],
            Some("audit_log_pkey"),
        ),
        ("log_all", sql::LOG_ALL, vec!["60000", "21"], None),
        (
            "access_by_message",
            sql::ACCESS_BY_MESSAGE,
            vec![message, "0", null, null, null, null, null, "21"],
            Some("access_log_messages_idx"),
        ),
        (
            "access_by_message",
            sql::ACCESS_BY_MESSAGE,
            vec![message, "16001", "'u1'", "'u8'", "'search'", feb, mar, "21"],
            None,
        ),
        (
            "access_by_actor",
            sql::ACCESS_BY_ACTOR,
            vec!["'u7'", "0", null, null, null, null, "21"],
            Some("access_log_actor_idx"),
        ),
        (
            "access_by_actor",
            sql::ACCESS_BY_ACTOR,
            vec!["'u7'", "60000", "'u62'", "'search'", feb, mar, "21"],
            None,
        ),
        (
            "access_by_counterpart",
            sql::ACCESS_BY_COUNTERPART,
            vec!["'u20'", "0", null, null, null, "21"],
            Some("access_log_counterpart_idx"),
        ),
        (
            "access_by_counterpart",
            sql::ACCESS_BY_COUNTERPART,
            vec!["'u20'", "60000", "'conversation_viewed'", feb, mar, "21"],
            None,
        ),
        (
            "access_by_action",
            sql::ACCESS_BY_ACTION,
            vec!["'search'", "0", null, null, "21"],
            Some("access_log_action_idx"),
        ),
        (
            "access_by_action",
            sql::ACCESS_BY_ACTION,
            vec!["'inbox_listed'", "60000", feb, mar, "21"],
            None,
        ),
        (
            "access_by_time",
            sql::ACCESS_BY_TIME,
            vec![feb, "0", mar, "21"],
            Some("access_log_time_idx"),
        ),
        (
            "access_by_time",
            sql::ACCESS_BY_TIME,
            vec![past, "0", future, "21"],
            None,
        ),
        (
            "access_all",
            sql::ACCESS_ALL,
            vec!["0", "21"],
            Some("access_log_pkey"),
        ),
        ("access_all", sql::ACCESS_ALL, vec!["60000", "21"], None),
    ]
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn every_audit_query_uses_an_index_and_no_sequential_scan_on_100k_entries(
    pool: PgPool,
) -> Result<()> {
    generate(&pool).await?;
    for table in ["audit_log", "access_log"] {
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&pool)
            .await?;
        assert_eq!(count, ENTRIES, "{table}");
    }
    let (client, connection) = pg_config_from_sqlx(&pool.connect_options())
        .connect(NoTls)
        .await?;
    let driver = tokio::spawn(connection);
    let mut explained = Vec::new();
    for (n, (name, statement, args, index)) in cases().into_iter().enumerate() {
        for (mode, plan) in plans::indexed_plans(&client, n, name, statement, &args).await? {
            if let Some(index) = index {
                assert!(
                    plan.contains(index),
                    "{name} ({mode}) does not use {index}:\n{plan}"
                );
            }
        }
        explained.push(name);
    }
    for (name, _) in sql::ALL {
        assert!(explained.contains(name), "{name} was not explained");
    }
    drop(client);
    driver.await??;
    Ok(())
}
