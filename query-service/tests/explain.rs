//! Every statement of the query API, the projector's reads of the log and its batch writes, on 120,000
//! generated messages (240,000 mailbox rows, 120,000 events), is planned as an index scan with
//! no sequential scan, as a custom and as a generic plan.

mod plans;

use projections::read_models::{audit_log, mailbox, messages, notifications};
use query_service::notifications::feed;
use query_service::{pg_config_from_sqlx, sql};
use sqlx::PgPool;
use tokio_postgres::NoTls;

type Result<T> = anyhow::Result<T>;

const MESSAGES: i64 = 120_000;

/// Fills the read tables straight from `generate_series` (what the projector would write for
/// that many sends, reads and deletes), then analyzes them.
async fn generate(pool: &PgPool) -> Result<()> {
    for statement in [
        "INSERT INTO users (username, display_name, role, password_hash)
         SELECT 'u' || i, 'User ' || i,
                CASE WHEN i % 10 = 0 THEN 'clinician' ELSE 'patient' END, 'x'
         FROM generate_series(1, 1000) i",
        // The directory of a large clinic group (50,000 users, as at 1M messages), so that the
        // recipient search is planned against a real size.
        "INSERT INTO users (username, display_name, role, password_hash)
         SELECT 'v' || i, 'Person ' || md5(i::text),
                CASE WHEN i % 10 = 0 THEN 'clinician' ELSE 'patient' END, 'x'
         FROM generate_series(1, 49000) i",
        "INSERT INTO patient_approvals (clinician, patient, status)
         SELECT 'u' || (10 * (1 + i % 100)), 'u' || i, 'approved'
         FROM generate_series(1, 1000) i WHERE i % 10 <> 0",
        "INSERT INTO messages (id, sender_username, recipient_username, subject, content,
             is_read, read_at, sent_at, is_deleted_by_sender, is_deleted_by_recipient,
             deleted_at, created_at, updated_at)
         SELECT gen_random_uuid(), 'u' || (1 + i % 1000), 'u' || (1 + (7 * i + 13) % 1000),
                (ARRAY['Budget', 'Sleep', 'Appointment', NULL])[1 + i % 4],
                'Notes ' || i || ' about the ' ||
                (ARRAY['budget meeting', 'therapy plan', 'medication', 'sleep diary'])[1 + i % 4],
                i % 3 = 0, CASE WHEN i % 3 = 0 THEN t + interval '1 hour' END, t,
                i % 50 = 0, i % 50 = 0, CASE WHEN i % 50 = 0 THEN t + interval '2 hours' END,
                t, t
         FROM generate_series(1, 120000) i,
              LATERAL (SELECT timestamp '2026-01-01' + i * interval '1 minute' AS t) s",
        "INSERT INTO mailbox (owner, message_id, counterpart, direction, subject, content,
             parent_message_id, sent_at, read_at, deleted, search)
         SELECT side.owner, m.id, side.counterpart, side.direction, m.subject, m.content,
                NULL, m.sent_at AT TIME ZONE 'UTC', m.read_at AT TIME ZONE 'UTC',
                m.deleted_at IS NOT NULL,
                setweight(to_tsvector('english', coalesce(m.subject, '')), 'A')
                || setweight(to_tsvector('english', m.content), 'B')
         FROM messages m,
              LATERAL (VALUES (m.sender_username, m.recipient_username, 'sent'),
                              (m.recipient_username, m.sender_username, 'received'))
                  AS side (owner, counterpart, direction)",
        "INSERT INTO conversations (owner, counterpart, last_message_id, last_activity_at,
             unread_count)
         SELECT owner, counterpart,
                (array_agg(message_id ORDER BY sent_at DESC, message_id DESC))[1], max(sent_at),
                count(*) FILTER (WHERE direction = 'received' AND read_at IS NULL)
         FROM mailbox WHERE NOT deleted GROUP BY owner, counterpart",
        "INSERT INTO unread_counters (owner, unread)
         SELECT owner, count(*) FILTER (WHERE direction = 'received' AND read_at IS NULL)
         FROM mailbox WHERE NOT deleted GROUP BY owner",
        // The summaries of a larger population (50,000 owners with four counterparts each, as
        // at 1M messages), so that the projector's batch writes are planned against tables of
        // a real size rather than the two thousand conversations above.
        "INSERT INTO conversations (owner, counterpart, last_message_id, last_activity_at,
             unread_count)
         SELECT 'p' || (i / 4), 'q' || i, gen_random_uuid(), now(), 0
         FROM generate_series(1, 200000) i",
        "INSERT INTO unread_counters (owner, unread)
         SELECT 'p' || i, 0 FROM generate_series(1, 50000) i",
        // One conversation in ten of that population archived.
        "INSERT INTO archived_conversations (owner, counterpart, archived_at)
         SELECT 'p' || (i / 4), 'q' || i, now() FROM generate_series(1, 200000, 10) i",
        "UPDATE conversations c SET archived = true FROM archived_conversations a
         WHERE a.owner = c.owner AND a.counterpart = c.counterpart",
        // The triage: every approved pair, a third of them waiting, and 100,000 answers.
        "INSERT INTO triage_waits (clinician, patient, waiting_since)
         SELECT 'u' || (10 * (1 + i % 100)), 'u' || i,
                CASE WHEN i % 3 = 0 THEN timestamp '2026-01-01' + i * interval '1 minute' END
         FROM generate_series(1, 1000) i WHERE i % 10 <> 0",
        "INSERT INTO triage_replies (clinician, patient, message_id, waited_since, replied_at)
         SELECT 'u' || (10 * (1 + i % 100)), 'u' || (1 + i % 1000), gen_random_uuid(), t,
                t + interval '10 minutes'
         FROM generate_series(1, 100000) i,
              LATERAL (SELECT now() - i * interval '2 minutes' AS t) s",
        // The clinician tools: 100 clinicians with 200 templates each; 100,000 scheduled
        // messages of 1,000 authors, one in ten still pending.
        "INSERT INTO templates (template_id, owner, title, subject, content, updated_at)
         SELECT gen_random_uuid(), 'u' || (10 * (1 + i % 100)), 'Template ' || i, NULL,
                'Text ' || i, now()
         FROM generate_series(1, 20000) i",
        "INSERT INTO scheduled_messages (scheduled_id, author, recipient, subject, content,
             send_at, status, message_id, failure, updated_at)
         SELECT gen_random_uuid(), 'u' || (1 + i % 1000), 'u' || (1 + (7 * i) % 1000), NULL,
                'Later ' || i, timestamp '2026-01-01' + i * interval '5 minutes',
                CASE WHEN i % 10 = 0 THEN 'pending' ELSE 'sent' END, NULL, NULL, now()
         FROM generate_series(1, 100000) i",
        // The access log (chained by its trigger): 30,000 reads, one in ten by an admin that
        // disclosed two patients' messages.
        "INSERT INTO access_log (occurred_at, actor, role, action, message_ids, result_count,
             subjects)
         SELECT now(), CASE WHEN i % 10 = 0 THEN 'admin' ELSE 'u' || (1 + i % 1000) END,
                CASE WHEN i % 10 = 0 THEN 'admin' ELSE 'patient' END,
                CASE WHEN i % 10 = 0 THEN 'deleted_listed' ELSE 'inbox_listed' END,
                ARRAY[gen_random_uuid()], 1,
                CASE WHEN i % 10 = 0 THEN ARRAY['u' || (1 + i % 1000), 'u' || (2 + i % 1000)]
                     ELSE '{}' END
         FROM generate_series(1, 30000) i",
        "INSERT INTO blocks (blocker, blocked, blocked_at)
         SELECT 'u' || (1 + i % 1000), 'v' || i, now() FROM generate_series(1, 20000) i",
    ] {
        sqlx::query(statement).execute(pool).await?;
    }
    // The log itself, in many transactions (the projector reads it in commit order).
    for batch in 0..12 {
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                 event_version, payload, metadata)
             SELECT 'message', gen_random_uuid()::text, 0, 'MessageSent', '1.0', '{}', '{}'
             FROM generate_series(1, $1)",
        )
        .bind(MESSAGES / 12 + batch % 2)
        .execute(pool)
        .await?;
    }
    // The audit trail of that log (what the projector would have chained).
    sqlx::query(
        "INSERT INTO audit_log (seq, position, transaction_id, event_id, occurred_at, action,
             participants, details, prev_hash, hash)
         SELECT global_position, global_position, 1, event_id, recorded_at, 'message_sent',
                '{}', '{}', '\\x00', '\\x00'
         FROM events",
    )
    .execute(pool)
    .await?;
    // The notification feed of that log: a `message` for each recipient, aged over 10 days.
    sqlx::query(
        "INSERT INTO notifications (recipient, transaction_id, global_position, kind,
             message_id, counterpart, at, total_unread, occurred_at)
         SELECT 'u' || (1 + global_position % 1000), transaction_id, global_position, 'message',
                gen_random_uuid(), 'u' || (1 + (7 * global_position + 13) % 1000), recorded_at, 1,
                now() - (120000 - global_position) * interval '7 seconds'
         FROM events",
    )
    .execute(pool)
    .await?;
    // Sessions of the request path: 20 per user.
    sqlx::query(
        "INSERT INTO sessions (token_hash, username, csrf_token, expires_at)
         SELECT decode(md5(i::text), 'hex'), 'u' || (1 + i % 1000), 'csrf', now() + interval '1 day'
         FROM generate_series(1, 20000) i",
    )
    .execute(pool)
    .await?;
    sqlx::query("ANALYZE").execute(pool).await?;
    Ok(())
}

/// The arguments each statement is explained with, as SQL literals: the busiest owner, a
/// first page and a page deep in the middle.
fn cases() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    let first = "'9999-12-31 00:00:00+00'";
    let deep = "'2026-02-15 00:00:00+00'";
    let max_id = "'ffffffff-ffff-ffff-ffff-ffffffffffff'";
    let xid_max = "'9223372036854775807'";
    let position_max = "9223372036854775807";
    let owners = "ARRAY['u1']";
    let counterparts = "ARRAY['u14']";
    let ids = "ARRAY['00000000-0000-0000-0000-000000000001'::uuid]";
    vec![
        // The projector's hot statements on the log (issue 11: `EXISTS` planned generically
        // scanned the whole log).
        (
            "log: any after",
            projections::log::ANY_AFTER,
            vec!["'0'", "0"],
        ),
        (
            "log: batch read",
            projections::log::READ_AFTER,
            vec!["'0'", "0", xid_max, position_max, "500", xid_max],
        ),
        // (`log::CHECKPOINT_AND_HORIZON` reads only `projection_checkpoints`, one row per
        // projection, and `pg_locks`: nothing that grows with the log.)
        (
            "log: save, announce, any after",
            projections::log::SAVE_AND_ANNOUNCE,
            vec!["'mailbox'", "'0'", "0", "0", "'hs_progress'", "'x'"],
        ),
        // The projector's set-based writes of a batch (their reads and joins).
        (
            "mailbox: rows before the batch",
            mailbox::READ_ROWS,
            vec![owners, ids],
        ),
        (
            "mailbox: changed rows",
            mailbox::UPDATE_ROWS,
            vec![owners, ids, "ARRAY[now()]", "ARRAY[true]"],
        ),
        (
            "mailbox: conversation changes",
            mailbox::MERGE_CONVERSATIONS,
            vec![owners, counterparts, "ARRAY[1]", ids, "ARRAY[now()]"],
        ),
        (
            "mailbox: last message gone",
            mailbox::REPLACE_LAST,
            vec![owners, counterparts, ids],
        ),
        (
            "mailbox: unread counters",
            mailbox::ADD_UNREAD,
            vec![owners, "ARRAY[-1]"],
        ),
        (
            "messages: changes",
            messages::UPDATE_PATCHES,
            vec![
                ids,
                "ARRAY[true]",
                "ARRAY[now()::timestamp]",
                "ARRAY[NULL::bool]",
                "ARRAY[true]",
                "ARRAY[false]",
                "ARRAY[NULL::timestamp]",
                "ARRAY[now()::timestamp]",
            ],
        ),
        ("audit log: last entry", audit_log::LAST_ENTRY, vec![]),
        // The notification feed: written with the mailbox, pruned as it ages, read by the
        // fan-out after each batch and by a resumed stream.
        (
            "notifications: the batch's rows",
            notifications::INSERT,
            vec![
                "ARRAY['u1', 'p7']",
                "ARRAY['200000', '200000']",
                "ARRAY[1, 2]::bigint[]",
                "ARRAY['message', 'read']",
                "ARRAY[gen_random_uuid(), gen_random_uuid()]",
                "ARRAY['u2', 'u3']",
                "ARRAY[now(), now()]",
                "ARRAY[1, NULL]::int[]",
                "ARRAY[now(), now()]",
            ],
        ),
        ("notifications: prune", notifications::PRUNE, vec!["10000"]),
        (
            "notifications: fan-out range",
            feed::RANGE,
            vec!["'5000'", "0", "'5000'", "100", "1000"],
        ),
        (
            "notifications: resumed stream",
            feed::BACKLOG,
            vec!["'u1'", "'1'", "5", xid_max, position_max, "200"],
        ),
        // The request path before any read-model query: the session, the directory, the
        // message's own events.
        (
            "session",
            http_edge::sessions::FIND_SESSION,
            vec!["decode(md5('7'), 'hex')", "'30 minutes'"],
        ),
        ("directory: user", accounts::FIND_USER, vec!["'u14'"]),
        (
            "directory: approval",
            accounts::IS_ASSIGNED,
            vec!["'u10'", "'u11'"],
        ),
        (
            "events of a message",
            command_service::EVENTS_OF_AGGREGATE,
            vec!["'message'", "'00000000-0000-0000-0000-000000000000'", "-1"],
        ),
        (
            "inbox",
            sql::INBOX,
            vec!["'u1'", first, "''", "21", "false"],
        ),
        (
            "inbox",
            sql::INBOX,
            vec!["'u1'", deep, "'u500'", "21", "false"],
        ),
        ("inbox", sql::INBOX, vec!["'u1'", first, "''", "21", "true"]),
        (
            "inbox, unread only",
            sql::INBOX_UNREAD,
            vec!["'u1'", first, "''", "21", "false"],
        ),
        (
            "projector: archived flags",
            projections::read_models::archive::SET_ARCHIVED,
            vec![owners, counterparts],
        ),
        ("unread", sql::UNREAD, vec!["'u1'"]),
        ("sent", sql::SENT, vec!["'u1'", first, max_id, "21"]),
        ("sent", sql::SENT, vec!["'u1'", deep, max_id, "21"]),
        ("user", sql::USER, vec!["'u14'"]),
        (
            "conversation",
            sql::CONVERSATION,
            vec!["'u1'", "'u14'", first, max_id, "21"],
        ),
        (
            "conversation",
            sql::CONVERSATION,
            vec!["'u1'", "'u14'", deep, max_id, "21"],
        ),
        (
            "search",
            sql::SEARCH,
            vec!["'u1'", "'budg meet'", "'Infinity'", first, max_id, "21"],
        ),
        (
            "search",
            sql::SEARCH,
            vec!["'u1'", "'sleep'", "'0.5'", deep, max_id, "21"],
        ),
        ("patients", sql::PATIENTS, vec!["'u10'"]),
        ("triage", sql::TRIAGE, vec!["'u10'"]),
        (
            "recipients of a clinician",
            sql::RECIPIENTS_OF_CLINICIAN,
            vec!["'u10'", "'%son 1a%'", "20"],
        ),
        (
            "recipients of a clinician",
            sql::RECIPIENTS_OF_CLINICIAN,
            vec!["'u10'", "'%1%'", "20"],
        ),
        (
            "recipients of a patient",
            sql::RECIPIENTS_OF_PATIENT,
            vec!["'u1'", "'%user%'", "20"],
        ),
        ("deleted", sql::DELETED, vec![first, max_id, "21"]),
        ("templates", sql::TEMPLATES, vec!["'u10'"]),
        (
            "scheduled",
            sql::SCHEDULED,
            vec![
                "'u1'",
                "'1970-01-01 00:00:00+00'",
                "'00000000-0000-0000-0000-000000000000'",
                "21",
            ],
        ),
        (
            "scheduled",
            sql::SCHEDULED,
            vec!["'u1'", deep, max_id, "21"],
        ),
        ("blocked", sql::BLOCKED, vec!["'u1'"]),
        ("export: messages", sql::EXPORT_MESSAGES, vec!["'u1'"]),
        ("export: scheduled", sql::EXPORT_SCHEDULED, vec!["'u1'"]),
        (
            "disclosures",
            sql::DISCLOSURES,
            vec!["'u1'", position_max, "21"],
        ),
        // On every send between two patients or two clinicians.
        (
            "policy: blocks",
            accounts::IS_BLOCKED_BETWEEN,
            vec!["'u1'", "'u2'"],
        ),
        (
            "scheduler: due",
            command_service::scheduler::DUE_SCHEDULED,
            vec!["now()", "200"],
        ),
        (
            "deleted",
            sql::DELETED,
            vec!["'2026-02-15 00:00:00'", max_id, "21"],
        ),
    ]
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn every_query_uses_an_index_and_no_sequential_scan_on_100k_messages(
    pool: PgPool,
) -> Result<()> {
    generate(&pool).await?;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM messages")
        .fetch_one(&pool)
        .await?;
    assert_eq!(count, MESSAGES);
    let (client, connection) = pg_config_from_sqlx(&pool.connect_options())
        .connect(NoTls)
        .await?;
    let driver = tokio::spawn(connection);
    let mut explained = Vec::new();
    for (n, (name, statement, args)) in cases().into_iter().enumerate() {
        plans::indexed_plans(&client, n, name, statement, &args).await?;
        explained.push(name);
    }
    for (name, _) in sql::ALL {
        assert!(explained.contains(name), "{name} was not explained");
    }
    drop(client);
    driver.await??;
    Ok(())
}
