//! Message text encrypted at rest and erased by destroying its key (issue 17), through the real
//! gateway binary, `hs-admin`, `projector` and `audit` against a real PostgreSQL: the log holds
//! no plain text, erasure blanks every read table, the export and search, replays agree with
//! the live tables, the audit chain still verifies, holds exempt, rotation rewraps, retention
//! erases the old, and a missing or wrong key stops a start-up before it changes anything.

use std::process::Output;

use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

mod support;

use support::*;

const SECRET_SUBJECT: &str = "Quetiapine dosage";
const SECRET_CONTENT: &str = "I felt dizzy after the zyprexa change on Tuesday";

async fn send(client: &Client, from: &Login, to: &str, subject: &str, content: &str) -> String {
    let body = json!({"recipient": to, "subject": subject, "content": content});
    let (status, answer, _) = call(client, "POST", "/api/messages/send", from, Some(body)).await;
    assert_eq!(status, 201, "{answer}");
    answer["message_id"].as_str().expect("id").to_owned()
}

/// Waits until the `messages` projection holds `n` rows.
async fn wait_for_messages(pool: &PgPool, n: i64) {
    for _ in 0..200 {
        if count(pool, "SELECT count(*) FROM messages").await == n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the messages projection did not reach {n} rows");
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql)
}

fn run(binary: &str, url: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = std::process::Command::new(sibling_binary(binary));
    command.args(args).env("DATABASE_URL", url);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `projector verify` (live == replay) for every projection, and `audit verify`.
fn verified(url: &str) {
    let verify = run("projector", url, &["verify"], &[]);
    assert!(
        verify.status.success(),
        "projector verify: {}",
        text(&verify)
    );
    let audit = run("audit", url, &["verify"], &[]);
    assert!(audit.status.success(), "audit verify: {}", text(&audit));
}

/// Every row of every read table that holds message text, as JSON, for comparisons.
async fn read_tables(pool: &PgPool) -> Value {
    sqlx::query_scalar(
        "SELECT json_build_object(
             'messages', (SELECT json_agg(m ORDER BY id) FROM messages m),
             'mailbox', (SELECT json_agg(json_build_object('owner', owner, 'id', message_id,
                 'subject', subject, 'content', content, 'erased_at', erased_at,
                 'search', search::text) ORDER BY owner, message_id) FROM mailbox),
             'scheduled', (SELECT json_agg(s ORDER BY scheduled_id) FROM scheduled_messages s))",
    )
    .fetch_one(pool)
    .await
    .expect("read tables")
}

#[sqlx::test]
async fn the_log_holds_no_plain_text_and_an_erasure_blanks_every_reader(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (url, _gateway, client) = seeded_gateway(&options, &[]).await;
    let pool = PgPool::connect(&url).await.expect("pool");
    let (alice, bob, admin) = (
        client.login("alice").await,
        client.login("bob").await,
        client.login("admin").await,
    );
    let id = send(&client, &bob, "alice", SECRET_SUBJECT, SECRET_CONTENT).await;
    let kept = send(&client, &bob, "alice", "Another", "Kept as it was").await;

    // The log: sealed, the words nowhere; one wrapped key per message.
    let plain = "SELECT count(*) FROM events WHERE payload::text ILIKE '%zyprexa%'
                 OR payload::text ILIKE '%Quetiapine%'";
    assert_eq!(count(&pool, plain).await, 0, "no plain text in the log");
    let sealed = "SELECT count(*) FROM events WHERE event_type = 'MessageSent'
                  AND event_version = '2.0' AND payload->'MessageSent'->>'content' LIKE 'sealed:v1:%'";
    assert_eq!(count(&pool, sealed).await, 2);
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM data_keys WHERE wrapped IS NOT NULL"
        )
        .await,
        2
    );

    // The readers see the text, opened by the projector; a reply's subject comes from its
    // parent opened by the command side.
    let (status, reply, token) = call(
        &client,
        "POST",
        &format!("/api/messages/{id}/reply"),
        &alice,
        Some(json!({"content": "Thank you"})),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    let thread = read(&client, "/api/messages/conversation/bob", &alice, &token).await;
    let texts: Vec<&str> = thread["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert!(texts.contains(&SECRET_CONTENT), "{thread}");
    let subjects: Vec<&str> = thread["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["subject"].as_str())
        .collect();
    assert!(subjects.contains(&"Re: Quetiapine dosage"), "{thread}");
    let found = read(&client, "/api/messages/search?q=zyprexa", &alice, &token).await;
    assert_eq!(
        found["results"].as_array().map(Vec::len),
        Some(1),
        "{found}"
    );

    // Bad erasures change nothing.
    let erase = |message: &str| format!("/api/admin/messages/{message}/erase");
    for (session, path, body, status) in [
        (&alice, erase(&id), json!({"reason": "mine"}), 403),
        (&admin, erase("not-a-uuid"), json!({"reason": "x"}), 400),
        (&admin, erase(&id), json!({}), 400),
        (&admin, erase(&id), json!({"reason": "  "}), 400),
        (&admin, erase(&id), json!({"reason": "two\nlines"}), 400),
        (&admin, erase(&id), json!({"reason": "x".repeat(501)}), 400),
        (
            &admin,
            erase(&uuid::Uuid::new_v4().to_string()),
            json!({"reason": "x"}),
            404,
        ),
    ] {
        let (got, answer, _) = call(&client, "POST", &path, session, Some(body)).await;
        assert_eq!(got, status, "{path}: {answer}");
    }
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM events WHERE event_type = 'MessageErased'"
        )
        .await,
        0
    );

    // The erasure.
    let (status, erased, token) = call(
        &client,
        "POST",
        &erase(&id),
        &admin,
        Some(json!({"reason": "sent to the wrong person (ticket 4711)"})),
    )
    .await;
    assert_eq!(status, 200, "{erased}");
    assert_eq!(erased["message_id"], id.as_str());
    assert!(erased["erased_at"].is_string());
    let (status, again, _) = call(
        &client,
        "POST",
        &erase(&id),
        &admin,
        Some(json!({"reason": "again"})),
    )
    .await;
    assert_eq!((status, code(&again)), (409, "conflict"), "{again}");
    assert_eq!(
        count(&pool, &format!("SELECT count(*) FROM data_keys WHERE key_id = '{id}' AND wrapped IS NULL AND destroyed_at IS NOT NULL")).await,
        1,
        "its key is destroyed"
    );

    // Every reader shows it erased: the thread, the sent list, the inbox, search, the export.
    let thread = read(&client, "/api/messages/conversation/bob", &alice, &token).await;
    let erased_row = thread["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["message_id"] == id.as_str())
        .cloned()
        .expect("still listed");
    assert_eq!(erased_row["content"], "", "{erased_row}");
    assert_eq!(erased_row["subject"], Value::Null);
    assert!(erased_row["erased_at"].is_string());
    let sent = read(&client, "/api/messages/sent", &bob, &token).await;
    assert!(sent.to_string().contains(&kept), "the other message stays");
    assert!(!sent.to_string().contains("zyprexa"), "{sent}");
    let found = read(&client, "/api/messages/search?q=zyprexa", &alice, &token).await;
    assert_eq!(
        found["results"].as_array().map(Vec::len),
        Some(0),
        "{found}"
    );
    let found = read(&client, "/api/messages/search?q=kept", &alice, &token).await;
    assert_eq!(
        found["results"].as_array().map(Vec::len),
        Some(1),
        "{found}"
    );
    let (status, _, export) = client
        .request("GET", "/api/me/export", Some(&alice), None, Some(&token))
        .await;
    assert!(status.contains("200"), "{status}");
    // (The reply's own subject, "Re: Quetiapine dosage", is the reply's text: erasing the
    // parent does not erase its replies; docs/privacy.md.)
    assert!(!export.contains("zyprexa"), "{export}");
    assert!(!export.contains("\"subject\":\"Quetiapine"), "{export}");
    assert!(
        export.contains("\"erased_at\":\"20"),
        "the export marks it erased"
    );
    for sql in [
        "SELECT count(*) FROM messages WHERE content ILIKE '%zyprexa%' OR subject ILIKE 'Quetiapine%'",
        "SELECT count(*) FROM mailbox WHERE content ILIKE '%zyprexa%' OR search::text ILIKE '%zyprexa%'",
    ] {
        assert_eq!(count(&pool, sql).await, 0, "{sql}");
    }

    // The audit trail records who, when and why, never what; replays agree, chains verify.
    let auditor = client.login("auditor").await;
    let audit = read(
        &client,
        &format!("/api/audit/log?message_id={id}"),
        &auditor,
        &token,
    )
    .await;
    assert!(audit.to_string().contains("message_erased"), "{audit}");
    assert!(audit.to_string().contains("ticket 4711"), "{audit}");
    verified(&url);
    let live = read_tables(&pool).await;
    let rebuild = run("projector", &url, &["rebuild", "--all"], &[]);
    assert!(rebuild.status.success(), "{}", text(&rebuild));
    assert_eq!(
        read_tables(&pool).await,
        live,
        "a rebuild yields the same tables"
    );
}

#[sqlx::test]
async fn a_legal_hold_exempts_a_message_from_erasure_until_released(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (url, _gateway, client) = seeded_gateway(&options, &[]).await;
    let pool = PgPool::connect(&url).await.expect("pool");
    let (bob, admin) = (client.login("bob").await, client.login("admin").await);
    let id = send(&client, &bob, "alice", "Held", "Evidence in a complaint").await;
    let hold = format!("/api/admin/messages/{id}/hold");
    for (body, status) in [
        (json!({"held": true}), 400),
        (json!({"reason": "x"}), 400),
        (json!({"held": "yes", "reason": "x"}), 400),
    ] {
        let (got, answer, _) = call(&client, "PUT", &hold, &admin, Some(body)).await;
        assert_eq!(got, status, "{answer}");
    }
    let (status, _, _) = call(
        &client,
        "PUT",
        &hold,
        &bob,
        Some(json!({"held": true, "reason": "x"})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, held, token) = call(
        &client,
        "PUT",
        &hold,
        &admin,
        Some(json!({"held": true, "reason": "complaint 12"})),
    )
    .await;
    assert_eq!(status, 200, "{held}");
    assert_eq!(held, json!({"message_id": id, "held": true}));
    let (status, _, _) = call(
        &client,
        "PUT",
        &hold,
        &admin,
        Some(json!({"held": true, "reason": "again"})),
    )
    .await;
    assert_eq!(status, 200, "a repeat is 200");
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM events WHERE event_type = 'MessageHoldSet'"
        )
        .await,
        1,
        "and records nothing"
    );
    let erase = format!("/api/admin/messages/{id}/erase");
    let (status, refused, _) = call(
        &client,
        "POST",
        &erase,
        &admin,
        Some(json!({"reason": "x"})),
    )
    .await;
    assert_eq!((status, code(&refused)), (409, "conflict"), "{refused}");
    // Retention passes it by too.
    let retention = run(
        "hs-admin",
        &url,
        &["retention", "--older-than", "0d", "--as", "admin"],
        &[],
    );
    assert!(retention.status.success(), "{}", text(&retention));
    assert!(
        text(&retention).contains("erased 0"),
        "{}",
        text(&retention)
    );
    let _ = read(&client, "/api/messages/sent", &bob, &token).await;
    let (status, released, _) = call(
        &client,
        "PUT",
        &hold,
        &admin,
        Some(json!({"held": false, "reason": "closed"})),
    )
    .await;
    assert_eq!((status, released["held"].as_bool()), (200, Some(false)));
    let (status, erased, _) = call(
        &client,
        "POST",
        &erase,
        &admin,
        Some(json!({"reason": "x"})),
    )
    .await;
    assert_eq!(status, 200, "{erased}");
    verified(&url);
}

#[sqlx::test]
async fn retention_erases_what_is_old_enough_and_a_dry_run_changes_nothing(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (url, _gateway, client) = seeded_gateway(&options, &[]).await;
    let pool = PgPool::connect(&url).await.expect("pool");
    let bob = client.login("bob").await;
    for n in 0..3 {
        send(&client, &bob, "alice", "Old", &format!("old message {n}")).await;
    }
    // Retention reads the messages table for its candidates.
    wait_for_messages(&pool, 3).await;
    let bad = run(
        "hs-admin",
        &url,
        &["retention", "--older-than", "soon", "--as", "admin"],
        &[],
    );
    assert!(!bad.status.success());
    assert!(text(&bad).contains("DURATION"), "{}", text(&bad));
    let not_admin = run(
        "hs-admin",
        &url,
        &["retention", "--older-than", "0d", "--as", "bob"],
        &[],
    );
    assert!(!not_admin.status.success(), "{}", text(&not_admin));
    let young = run(
        "hs-admin",
        &url,
        &["retention", "--older-than", "30d", "--as", "admin"],
        &[],
    );
    assert!(text(&young).contains("erased 0"), "{}", text(&young));
    let dry = run(
        "hs-admin",
        &url,
        &[
            "retention",
            "--older-than",
            "0d",
            "--as",
            "admin",
            "--dry-run",
        ],
        &[],
    );
    assert!(dry.status.success(), "{}", text(&dry));
    assert!(text(&dry).contains("3 messages"), "{}", text(&dry));
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM events WHERE event_type = 'MessageErased'"
        )
        .await,
        0
    );
    let real = run(
        "hs-admin",
        &url,
        &["retention", "--older-than", "0d", "--as", "admin"],
        &[],
    );
    assert!(real.status.success(), "{}", text(&real));
    assert!(text(&real).contains("erased 3"), "{}", text(&real));
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM data_keys WHERE wrapped IS NOT NULL"
        )
        .await,
        0
    );
    let erased = "SELECT count(*) FROM events WHERE event_type = 'MessageErased'
                  AND metadata->>'actor' = 'admin' AND payload->'MessageErased'->>'reason' LIKE 'retention%'";
    assert_eq!(count(&pool, erased).await, 3);
}

/// A second key file: the tests' key and a new one, the new one first (active).
fn rotated_key_file(dir: &std::path::Path) -> std::path::PathBuf {
    let test_key = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/dev/test-kek"),
    )
    .expect("test key");
    let path = dir.join("keks");
    std::fs::write(
        &path,
        format!("kek-2026-12 HxwdHhscGxoZGBcWFRQTEhEQDw4NDAsKCQgHBgUEAwI=\n{test_key}"),
    )
    .expect("key file");
    path
}

#[sqlx::test]
async fn rotation_rewraps_every_key_and_a_rebuild_yields_the_same_tables(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (url, gateway, client) = seeded_gateway(&options, &[]).await;
    let pool = PgPool::connect(&url).await.expect("pool");
    let bob = client.login("bob").await;
    for n in 0..5 {
        send(
            &client,
            &bob,
            "alice",
            "Rotate",
            &format!("rotated text {n}"),
        )
        .await;
    }
    wait_for_messages(&pool, 5).await;
    drop(gateway);
    let dir = tempfile::tempdir().expect("dir");
    let keys = rotated_key_file(dir.path());
    let keys = keys.to_str().expect("path");
    let unknown = run(
        "hs-admin",
        &url,
        &["keys", "rotate", "--to", "nope"],
        &[("HS_KEK_FILE", keys)],
    );
    assert!(
        !unknown.status.success() && text(&unknown).contains("nope"),
        "{}",
        text(&unknown)
    );
    // Two keys per transaction: the walk over the key table takes three batches.
    let rotate = run(
        "hs-admin",
        &url,
        &["keys", "rotate", "--to", "kek-2026-12", "--batch", "2"],
        &[("HS_KEK_FILE", keys)],
    );
    assert!(rotate.status.success(), "{}", text(&rotate));
    assert!(text(&rotate).contains("rewrapped 5"), "{}", text(&rotate));
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM data_keys WHERE kek_id = 'kek-2026-12'"
        )
        .await,
        5
    );
    // The old key alone no longer opens anything; the new file does, and replays agree.
    let live = read_tables(&pool).await;
    let old_only = run("projector", &url, &["rebuild", "--all"], &[]);
    assert!(!old_only.status.success(), "{}", text(&old_only));
    assert!(
        text(&old_only).contains("kek-2026-12"),
        "{}",
        text(&old_only)
    );
    let rebuild = run(
        "projector",
        &url,
        &["rebuild", "--all"],
        &[("HS_KEK_FILE", keys)],
    );
    assert!(rebuild.status.success(), "{}", text(&rebuild));
    assert_eq!(read_tables(&pool).await, live);
    let again = run(
        "hs-admin",
        &url,
        &["keys", "rotate", "--to", "kek-2026-12"],
        &[("HS_KEK_FILE", keys)],
    );
    assert!(
        text(&again).contains("rewrapped 0"),
        "resumable and idempotent: {}",
        text(&again)
    );
}

#[sqlx::test]
async fn a_missing_or_wrong_key_stops_the_start_and_changes_nothing(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (url, gateway, client) = seeded_gateway(&options, &[]).await;
    let pool = PgPool::connect(&url).await.expect("pool");
    let bob = client.login("bob").await;
    send(
        &client,
        &bob,
        "alice",
        "Before",
        "written with the tests' key",
    )
    .await;
    drop(gateway);
    let events = "SELECT count(*) FROM events";
    let before = (
        count(&pool, events).await,
        count(&pool, "SELECT count(*) FROM key_encryption_keys").await,
    );
    let dir = tempfile::tempdir().expect("dir");
    let wrong = dir.path().join("wrong");
    std::fs::write(
        &wrong,
        "test-kek-1 HxwdHhscGxoZGBcWFRQTEhEQDw4NDAsKCQgHBgUEAwI=\n",
    )
    .expect("file");
    let other = dir.path().join("other");
    std::fs::write(
        &other,
        "another-kek HxwdHhscGxoZGBcWFRQTEhEQDw4NDAsKCQgHBgUEAwI=\n",
    )
    .expect("file");
    let malformed = dir.path().join("malformed");
    std::fs::write(&malformed, "test-kek-1 not-base64!\n").expect("file");
    let absent = dir.path().join("absent");
    for (file, says) in [
        (wrong.to_str().expect("path"), "not the key registered"),
        (other.to_str().expect("path"), "does not hold it"),
        (malformed.to_str().expect("path"), "line 1"),
        (absent.to_str().expect("path"), "cannot read"),
    ] {
        for binary in ["gateway", "projector"] {
            let args: &[&str] = if binary == "projector" { &["run"] } else { &[] };
            let output = tokio::time::timeout(
                std::time::Duration::from_secs(30),
                tokio::process::Command::new(sibling_binary(binary))
                    .args(args)
                    .env("DATABASE_URL", &url)
                    .env("HS_KEK_FILE", file)
                    .env("PORT", "0")
                    .env("METRICS_ADDR", "off")
                    .output(),
            )
            .await
            .expect("exits at once")
            .expect("runs");
            assert!(!output.status.success(), "{binary} with {file}");
            assert!(
                text(&output).contains(says),
                "{binary} with {file}: {}",
                text(&output)
            );
        }
    }
    let unset = std::process::Command::new(sibling_binary("gateway"))
        .env("DATABASE_URL", &url)
        .env_remove("HS_KEK_FILE")
        .output()
        .expect("runs");
    assert!(!unset.status.success());
    assert!(
        text(&unset).contains("HS_KEK_FILE is not set"),
        "{}",
        text(&unset)
    );
    assert_eq!(
        (
            count(&pool, events).await,
            count(&pool, "SELECT count(*) FROM key_encryption_keys").await
        ),
        before,
        "nothing changed"
    );
}
