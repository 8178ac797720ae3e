//! Every command type, driven through the real command router and projected by the real
//! projector, yields exactly its audit entries — with the acting user, the request id, the
//! client address — and a rebuild by replay yields the same entries and hashes.

mod support;

use axum::http::{Method, StatusCode};
use projections::Projection;
use serde_json::json;
use sqlx::PgPool;
use support::{catch_up, Commands, Result, CLIENT_IP, USER_AGENT};

/// One expected entry: (request id, actor, action, message id).
type Expected = (String, String, String, String);

fn entry(request_id: &str, actor: &str, action: &str, message_id: &str) -> Expected {
    (
        request_id.to_owned(),
        actor.to_owned(),
        action.to_owned(),
        message_id.to_owned(),
    )
}

/// The stored entries as (request id, actor, action, message id), in chain order.
async fn stored(pool: &PgPool) -> Result<Vec<Expected>> {
    Ok(sqlx::query_as(
        "SELECT coalesce(request_id, ''), coalesce(actor, ''), action,
                coalesce(message_id::text, '')
         FROM audit_log ORDER BY seq",
    )
    .fetch_all(pool)
    .await?)
}

/// Every row of `audit_log`, every column, in chain order.
async fn snapshot(pool: &PgPool) -> Result<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT to_jsonb(a)::text FROM audit_log a ORDER BY seq")
            .fetch_all(pool)
            .await?,
    )
}

/// Runs one command of each type (and one the policy refuses); returns what the audit log
/// must then hold.
async fn every_command(commands: &Commands) -> Result<Vec<Expected>> {
    let alice = commands.login("alice").await?;
    let bob = commands.login("bob").await?;
    let carol = commands.login("dr_carol").await?;
    let admin = commands.login("admin").await?;
    let mut expected = Vec::new();

    let first = commands
        .send(&alice, "bob", "Plans", "See you Monday", "r-send")
        .await?;
    expected.push(entry("r-send", "alice", "message_sent", &first));

    let reply = commands
        .expect(
            StatusCode::CREATED,
            Method::POST,
            &format!("/api/messages/{first}/reply"),
            &bob,
            "r-reply",
            Some(json!({"content": "Monday works"})),
        )
        .await?["message_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    expected.push(entry("r-reply", "bob", "message_sent", &reply));

    let care = commands
        .expect(
            StatusCode::CREATED,
            Method::POST,
            "/api/clinician/message",
            &carol,
            "r-clinician",
            Some(json!({"recipient_username": "alice", "message": "How did the week go?"})),
        )
        .await?["message_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    expected.push(entry("r-clinician", "dr_carol", "message_sent", &care));

    commands
        .expect(
            StatusCode::OK,
            Method::PATCH,
            &format!("/api/messages/{reply}/read"),
            &alice,
            "r-read",
            None,
        )
        .await?;
    expected.push(entry("r-read", "alice", "message_read", &reply));

    let mut unread = Vec::new();
    for n in 0..2 {
        let request_id = format!("r-send-{n}");
        let id = commands
            .send(&bob, "alice", "More", "Two more things", &request_id)
            .await?;
        expected.push(entry(&request_id, "bob", "message_sent", &id));
        unread.push(id);
    }
    let marked = commands
        .expect(
            StatusCode::OK,
            Method::POST,
            "/api/messages/conversation/bob/read",
            &alice,
            "r-conversation-read",
            None,
        )
        .await?;
    assert_eq!(marked["marked"], 2, "{marked}");
    for id in &unread {
        expected.push(entry("r-conversation-read", "alice", "message_read", id));
    }

    commands
        .expect(
            StatusCode::NO_CONTENT,
            Method::DELETE,
            &format!("/api/messages/{first}"),
            &alice,
            "r-delete-sender",
            None,
        )
        .await?;
    expected.push(entry(
        "r-delete-sender",
        "alice",
        "message_deleted_by_sender",
        &first,
    ));
    commands
        .expect(
            StatusCode::NO_CONTENT,
            Method::DELETE,
            &format!("/api/messages/{first}"),
            &bob,
            "r-delete-recipient",
            None,
        )
        .await?;
    expected.push(entry(
        "r-delete-recipient",
        "bob",
        "message_deleted_by_recipient",
        &first,
    ));
    expected.push(entry("r-delete-recipient", "bob", "message_hidden", &first));

    commands
        .expect(
            StatusCode::OK,
            Method::POST,
            &format!("/api/admin/messages/{first}/restore"),
            &admin,
            "r-restore",
            None,
        )
        .await?;
    expected.push(entry("r-restore", "admin", "message_restored", &first));

    let (status, _) = commands
        .call(
            Method::POST,
            "/api/messages/send",
            Some(&alice),
            "r-refused",
            Some(json!({"recipient": "dr_dave", "content": "not my clinician"})),
        )
        .await?;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a refused command records nothing"
    );
    Ok(expected)
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn every_command_type_yields_exactly_its_entries_with_actor_and_request_id(
    pool: PgPool,
) -> Result<()> {
    let commands = Commands::new(pool.clone()).await?;
    let expected = every_command(&commands).await?;
    catch_up(&pool, Projection::AuditLog).await?;
    assert_eq!(stored(&pool).await?, expected);

    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await?;
    let matching: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log a JOIN events e
             ON e.global_position = a.position AND e.event_id = a.event_id
                AND e.transaction_id::text::bigint = a.transaction_id",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!((events, matching), (expected.len() as i64, events));

    let from_elsewhere: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log
         WHERE client_ip IS DISTINCT FROM $1 OR user_agent IS DISTINCT FROM $2",
    )
    .bind(CLIENT_IP)
    .bind(USER_AGENT)
    .fetch_one(&pool)
    .await?;
    assert_eq!(
        from_elsewhere, 0,
        "client address and agent come from the request"
    );

    let (channel, counterpart, details): (Option<String>, Option<String>, serde_json::Value) =
        sqlx::query_as(
            "SELECT details ->> 'channel', counterpart, details FROM audit_log
             WHERE request_id = 'r-clinician'",
        )
        .fetch_one(&pool)
        .await?;
    assert_eq!(channel.as_deref(), Some("clinician"));
    assert_eq!(counterpart.as_deref(), Some("alice"));
    assert_eq!(details["actor_role"], "clinician");
    let parent: Option<String> = sqlx::query_scalar(
        "SELECT details ->> 'parent_message_id' FROM audit_log WHERE request_id = 'r-reply'",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(parent.as_deref(), Some(expected[0].3.as_str()));
    let restorer: Option<String> = sqlx::query_scalar(
        "SELECT details ->> 'restored_by' FROM audit_log WHERE request_id = 'r-restore'",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(restorer.as_deref(), Some("admin"));
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn no_audit_entry_contains_a_subject_or_content(pool: PgPool) -> Result<()> {
    let commands = Commands::new(pool.clone()).await?;
    every_command(&commands).await?;
    let alice = commands.login("alice").await?;
    commands
        .send(
            &alice,
            "bob",
            "Distinctsubject Xylophone",
            "Distinctcontent about my diagnosis",
            "r-distinct",
        )
        .await?;
    catch_up(&pool, Projection::AuditLog).await?;
    for needle in [
        "%Distinct%",
        "%Xylophone%",
        "%diagnosis%",
        "%See you Monday%",
        "%Monday works%",
        "%How did the week go%",
        "%Plans%",
    ] {
        let found: i64 =
            sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE audit_log::text LIKE $1")
                .bind(needle)
                .fetch_one(&pool)
                .await?;
        assert_eq!(found, 0, "{needle} is in the audit log");
    }
    // The text exists (sealed in the log, opened into the messages table), only not here.
    catch_up(&pool, Projection::Messages).await?;
    let in_messages: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages WHERE subject LIKE 'Distinct%' AND content LIKE 'Distinct%'",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(
        in_messages, 1,
        "the content is in the messages table, not the audit log"
    );
    let sealed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE payload::text LIKE '%Distinct%'")
            .fetch_one(&pool)
            .await?;
    assert_eq!(sealed, 0, "and sealed in the event log");
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_rebuild_by_replay_yields_identical_entries_and_hashes(pool: PgPool) -> Result<()> {
    let commands = Commands::new(pool.clone()).await?;
    every_command(&commands).await?;
    catch_up(&pool, Projection::AuditLog).await?;
    let live = snapshot(&pool).await?;
    assert!(live.len() > 10);
    let report = projections::operator::rebuild(&pool, Projection::AuditLog, 3, &|_| {}).await?;
    assert_eq!(report.events_applied, live.len() as i64);
    assert_eq!(snapshot(&pool).await?, live);
    let verified = audit::verify::verify(&pool, None, |_| {}).await?;
    assert_eq!(verified.problem, None);
    assert_eq!(verified.entries_checked, live.len() as u64);

    // The live projector continues the rebuilt chain.
    let alice = commands.login("alice").await?;
    commands
        .send(&alice, "bob", "After", "after the rebuild", "r-after")
        .await?;
    catch_up(&pool, Projection::AuditLog).await?;
    let report = audit::verify::verify(&pool, None, |_| {}).await?;
    assert_eq!(report.problem, None);
    assert_eq!(report.entries_checked, live.len() as u64 + 1);
    Ok(())
}
