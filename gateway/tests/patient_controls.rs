//! The patient controls through the real gateway binary: blocking (every success and error of
//! the contract's rows, and its effect on sends, replies and scheduled deliveries).

use chrono::Utc;
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

mod support;

use support::*;

async fn send(client: &Client, from: &Login, to: &str, content: &str) -> (u16, Value) {
    let body = json!({"recipient": to, "content": content});
    let (status, answer, _) = call(client, "POST", "/api/messages/send", from, Some(body)).await;
    (status, answer)
}

async fn events(pool: &PgPool, event_type: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(pool)
        .await
        .expect("count")
}

#[sqlx::test]
async fn a_block_stops_messages_both_ways_until_it_is_lifted(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (url, _gateway, client) = seeded_gateway(&options, &[("SCHEDULER_POLL_MS", "100")]).await;
    let pool = PgPool::connect(&url).await.expect("pool");
    let alice = client.login("alice").await;
    let bob = client.login("bob").await;
    let (status, first) = send(&client, &bob, "alice", "Hello alice").await;
    assert_eq!(status, 201, "{first}");
    let first = first["message_id"].as_str().expect("id").to_owned();
    // bob also schedules a message for later; the block will stop it at delivery.
    let (status, later, _) = call(
        &client,
        "POST",
        "/api/messages/scheduled",
        &bob,
        Some(json!({"recipient": "alice", "content": "Later",
                    "send_at": (Utc::now() + chrono::Duration::minutes(2)).to_rfc3339()})),
    )
    .await;
    assert_eq!(status, 201, "{later}");

    let (status, _, token) = call(&client, "POST", "/api/messages/block/bob", &alice, None).await;
    assert_eq!(status, 204);
    let (status, _, _) = call(&client, "POST", "/api/messages/block/bob", &alice, None).await;
    assert_eq!(status, 204, "a repeat is 204");
    assert_eq!(events(&pool, "UserBlocked").await, 1, "and records nothing");
    let list = read(&client, "/api/messages/blocked", &alice, &token).await;
    assert_eq!(list["blocked"][0]["username"], "bob", "{list}");
    assert_eq!(list["blocked"][0]["display_name"], "Bob Brown");
    assert!(list["blocked"][0]["blocked_at"].is_string());
    let bobs = read(&client, "/api/messages/blocked", &bob, &token).await;
    assert_eq!(bobs["blocked"], json!([]), "only one's own blocks");

    // bob gets the ordinary refusal, whatever he tries; alice cannot write to him either.
    let (status, refused) = send(&client, &bob, "alice", "Are you there?").await;
    assert_eq!((status, code(&refused)), (403, "forbidden"), "{refused}");
    assert_eq!(
        refused["error"]["message"],
        events::POLICY_REFUSAL,
        "nothing more"
    );
    let reply = json!({"content": "Answer me"});
    let (status, refused, _) = call(
        &client,
        "POST",
        &format!("/api/messages/{first}/reply"),
        &bob,
        Some(reply.clone()),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    let (status, _, _) = call(
        &client,
        "POST",
        &format!("/api/messages/{first}/reply"),
        &alice,
        Some(reply),
    )
    .await;
    assert_eq!(status, 403, "the blocker's replies are refused too");
    let (status, _) = send(&client, &alice, "bob", "hi").await;
    assert_eq!(status, 403);
    let (status, _, _) = call(
        &client,
        "POST",
        "/api/messages/scheduled",
        &bob,
        Some(json!({"recipient": "alice", "content": "x",
                    "send_at": (Utc::now() + chrono::Duration::minutes(5)).to_rfc3339()})),
    )
    .await;
    assert_eq!(status, 403, "nor scheduled");

    // Lifted: both write again; a repeat is 204 and records nothing.
    let (status, _, token) = call(&client, "DELETE", "/api/messages/block/bob", &alice, None).await;
    assert_eq!(status, 204);
    let (status, _, _) = call(&client, "DELETE", "/api/messages/block/bob", &alice, None).await;
    assert_eq!(status, 204);
    assert_eq!(events(&pool, "UserUnblocked").await, 1);
    let list = read(&client, "/api/messages/blocked", &alice, &token).await;
    assert_eq!(list["blocked"], json!([]));
    let (status, _) = send(&client, &bob, "alice", "Back again").await;
    assert_eq!(status, 201);
}

#[sqlx::test]
async fn a_block_made_before_a_scheduled_delivery_turns_it_into_a_failure(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (url, _gateway, client) = seeded_gateway(&options, &[("SCHEDULER_POLL_MS", "100")]).await;
    let pool = PgPool::connect(&url).await.expect("pool");
    let alice = client.login("alice").await;
    let bob = client.login("bob").await;
    // Scheduled "a minute ago" for now (the domain takes the time from the command).
    let writer = command_service::streams::Writer {
        pool: pool.clone(),
        directory: std::sync::Arc::new(accounts::PgDirectory::new(pool.clone())),
        signal: command_service::CommitSignal::default(),
    };
    let (status, _, _) = call(&client, "POST", "/api/messages/block/bob", &alice, None).await;
    assert_eq!(status, 204);
    let id = uuid::Uuid::new_v4();
    let send_at = Utc::now() - chrono::Duration::seconds(1);
    // Scheduled before the block (its time says so), due now.
    let command = events::ScheduledCommand::Schedule {
        scheduled_id: id,
        author: "bob".into(),
        recipient: "alice".into(),
        subject: None,
        content: "Surprise".into(),
        send_at,
        at: send_at - chrono::Duration::minutes(2),
    };
    let refused = command_service::streams::execute_on::<events::ScheduledMessage>(
        &writer,
        "schedule",
        &id.to_string(),
        command,
        &command_service::EventMetadata::scheduler("bob", "patient", id),
    )
    .await;
    assert!(refused.is_err(), "blocked at scheduling already");
    // Unblocked, scheduled, blocked again: the delivery fails with the ordinary refusal.
    let (status, _, _) = call(&client, "DELETE", "/api/messages/block/bob", &alice, None).await;
    assert_eq!(status, 204);
    let command = events::ScheduledCommand::Schedule {
        scheduled_id: id,
        author: "bob".into(),
        recipient: "alice".into(),
        subject: None,
        content: "Surprise".into(),
        send_at: Utc::now() + chrono::Duration::seconds(2),
        at: Utc::now() - chrono::Duration::minutes(1),
    };
    command_service::streams::execute_on::<events::ScheduledMessage>(
        &writer,
        "schedule",
        &id.to_string(),
        command,
        &command_service::EventMetadata::scheduler("bob", "patient", id),
    )
    .await
    .expect("scheduled");
    let (status, _, _) = call(&client, "POST", "/api/messages/block/bob", &alice, None).await;
    assert_eq!(status, 204);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let list = read(&client, "/api/messages/scheduled", &bob, "").await;
        if list["scheduled"][0]["status"] == "failed" {
            assert_eq!(list["scheduled"][0]["failure"], events::POLICY_REFUSAL);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{list}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        events(&pool, "MessageSent").await,
        0,
        "nothing was delivered"
    );
    let _ = alice;
}

#[sqlx::test]
async fn blocks_follow_the_contract_rules(_: PgPoolOptions, options: PgConnectOptions) {
    let (url, _gateway, client) = seeded_gateway(&options, &[]).await;
    let pool = PgPool::connect(&url).await.expect("pool");
    let alice = client.login("alice").await;
    let carol = client.login("dr_carol").await;
    let dave = client.login("dr_dave").await;
    let admin = client.login("admin").await;
    for (session, path, expected) in [
        (&alice, "/api/messages/block/alice", 400),
        (&alice, "/api/messages/block/Not%20A%20Name", 400),
        (&alice, "/api/messages/block/nobody", 404),
        // The care team: no block across an approval, either way.
        (&alice, "/api/messages/block/dr_carol", 403),
        (&carol, "/api/messages/block/alice", 403),
        (&admin, "/api/messages/block/alice", 403),
        (&alice, "/api/messages/block/dr_dave", 204),
        (&dave, "/api/messages/block/dr_carol", 204),
    ] {
        let (status, body, _) = call(&client, "POST", path, session, None).await;
        assert_eq!(status, expected, "{path}: {body}");
    }
    for (path, expected) in [
        ("/api/messages/block/alice", 400),
        ("/api/messages/block/nobody", 404),
        ("/api/messages/block/bob", 204),
    ] {
        let (status, body, _) = call(&client, "DELETE", path, &alice, None).await;
        assert_eq!(status, expected, "{path}: {body}");
    }
    // Without CSRF or a session: the ordinary 403 and 401.
    let (status, _, _) = client
        .request("POST", "/api/messages/block/bob", None, None, None)
        .await;
    assert!(status.contains("401"), "{status}");
    let no_csrf = Login {
        cookie: alice.cookie.clone(),
        csrf: "wrong".into(),
    };
    let (status, body, _) = call(&client, "POST", "/api/messages/block/bob", &no_csrf, None).await;
    assert_eq!((status, code(&body)), (403, "csrf_failed"));
    assert_eq!(
        events(&pool, "UserBlocked").await,
        2,
        "only the accepted blocks"
    );
    // A clinician blocked by dr_dave... and alice blocked dr_dave: his message to her is
    // refused even as a reply would be; clinicians between themselves too.
    let (status, body, _) = call(
        &client,
        "POST",
        "/api/messages/send",
        &carol,
        Some(json!({"recipient": "dr_dave", "content": "Case?"})),
    )
    .await;
    assert_eq!((status, code(&body)), (403, "forbidden"), "{body}");
}

/// The counterparts of an inbox page.
fn withs(inbox: &Value) -> Vec<String> {
    inbox["conversations"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|c| c["with"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[sqlx::test]
async fn an_archived_conversation_leaves_the_inbox_until_the_counterpart_writes(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (_url, _gateway, client) = seeded_gateway(&options, &[]).await;
    let alice = client.login("alice").await;
    let bob = client.login("bob").await;
    let carol = client.login("dr_carol").await;
    assert_eq!(send(&client, &bob, "alice", "Budget numbers").await.0, 201);
    let (status, _, _) = call(
        &client,
        "POST",
        "/api/clinician/message",
        &carol,
        Some(json!({"recipient_username": "alice", "message": "How are you?"})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _, token) = call(
        &client,
        "POST",
        "/api/messages/conversation/bob/archive",
        &alice,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let inbox = read(&client, "/api/messages/inbox", &alice, &token).await;
    assert_eq!(withs(&inbox), ["dr_carol"], "{inbox}");
    assert_eq!(
        inbox["total_unread"], 2,
        "the badge still counts everything"
    );
    let archived = read(&client, "/api/messages/inbox?archived=true", &alice, &token).await;
    assert_eq!(withs(&archived), ["bob"], "{archived}");
    let found = read(&client, "/api/messages/search?q=budget", &alice, &token).await;
    assert_eq!(
        found["results"].as_array().map(Vec::len),
        Some(1),
        "still searchable"
    );
    // bob's side is untouched.
    let bobs = read(&client, "/api/messages/inbox", &bob, &token).await;
    assert_eq!(withs(&bobs), ["alice"]);

    // Unread only: carol's message is unread; once read, the filter leaves nothing.
    let unread = read(
        &client,
        "/api/messages/inbox?unread_only=true",
        &alice,
        &token,
    )
    .await;
    assert_eq!(withs(&unread), ["dr_carol"]);
    let both = read(
        &client,
        "/api/messages/inbox?archived=true&unread_only=true",
        &alice,
        &token,
    )
    .await;
    assert_eq!(withs(&both), ["bob"]);
    let (status, _, token) = call(
        &client,
        "POST",
        "/api/messages/conversation/dr_carol/read",
        &alice,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let unread = read(
        &client,
        "/api/messages/inbox?unread_only=true",
        &alice,
        &token,
    )
    .await;
    assert_eq!(withs(&unread), Vec::<String>::new());

    // alice's own message does not bring it back; bob's does.
    assert_eq!(send(&client, &alice, "bob", "Thanks").await.0, 201);
    let (status, answer, token) = call(
        &client,
        "POST",
        "/api/messages/send",
        &alice,
        Some(json!({"recipient": "bob", "content": "One more"})),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    let inbox = read(&client, "/api/messages/inbox", &alice, &token).await;
    assert_eq!(withs(&inbox), ["dr_carol"], "still archived: {inbox}");
    let (status, _, token) = call(
        &client,
        "POST",
        "/api/messages/send",
        &bob,
        Some(json!({"recipient": "alice", "content": "You're welcome"})),
    )
    .await;
    assert_eq!(status, 201);
    let inbox = read(&client, "/api/messages/inbox", &alice, &token).await;
    assert_eq!(
        withs(&inbox),
        ["bob", "dr_carol"],
        "back with bob's message: {inbox}"
    );
    let archived = read(&client, "/api/messages/inbox?archived=true", &alice, &token).await;
    assert_eq!(withs(&archived), Vec::<String>::new());

    // Archive and unarchive by hand.
    let path = "/api/messages/conversation/dr_carol/archive";
    let (status, _, _) = call(&client, "POST", path, &alice, None).await;
    assert_eq!(status, 204);
    let (status, _, token) = call(&client, "DELETE", path, &alice, None).await;
    assert_eq!(status, 204);
    let inbox = read(&client, "/api/messages/inbox", &alice, &token).await;
    assert_eq!(withs(&inbox), ["bob", "dr_carol"]);

    // Errors: oneself, unknown or malformed users, bad filters, a cursor of other filters.
    for (method, path, expected) in [
        ("POST", "/api/messages/conversation/alice/archive", 400),
        ("POST", "/api/messages/conversation/nobody/archive", 404),
        ("DELETE", "/api/messages/conversation/nobody/archive", 404),
        ("POST", "/api/messages/conversation/Bad%20Name/archive", 400),
        ("GET", "/api/messages/inbox?archived=yes", 400),
        ("GET", "/api/messages/inbox?unread_only=1", 400),
    ] {
        let (status, body, _) = call(&client, method, path, &alice, None).await;
        assert_eq!(status, expected, "{method} {path}: {body}");
    }
    let page = read(&client, "/api/messages/inbox?limit=1", &alice, &token).await;
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let (status, body, _) = call(
        &client,
        "GET",
        &format!("/api/messages/inbox?archived=true&cursor={cursor}"),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, 400, "a cursor belongs to its filters: {body}");
}

/// Downloads `path` as `session`; the status, the headers and the body.
async fn download(
    client: &Client,
    path: &str,
    session: &Login,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let response = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}{path}", client.port))
        .header("cookie", &session.cookie)
        .send()
        .await
        .expect("answer");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("body").to_vec();
    (status, headers, body)
}

#[sqlx::test]
async fn the_export_holds_everything_the_caller_sent_and_received_and_nothing_else(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (url, _gateway, client) = seeded_gateway(&options, &[]).await;
    let pool = PgPool::connect(&url).await.expect("pool");
    let alice = client.login("alice").await;
    let bob = client.login("bob").await;
    let carol = client.login("dr_carol").await;
    let (_, sent) = send(&client, &alice, "bob", "From alice").await;
    let (_, received) = send(&client, &bob, "alice", "From bob").await;
    let (_, other) = send(&client, &carol, "dr_dave", "Not alice's").await;
    let received = received["message_id"].as_str().expect("id").to_owned();
    let (status, _, _) = call(
        &client,
        "DELETE",
        &format!("/api/messages/{received}"),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _, _) = call(&client, "POST", "/api/messages/block/dr_dave", &alice, None).await;
    assert_eq!(status, 204);
    let (status, _, token) = call(
        &client,
        "POST",
        "/api/messages/scheduled",
        &alice,
        Some(json!({"recipient": "bob", "content": "Later",
                    "send_at": (Utc::now() + chrono::Duration::hours(1)).to_rfc3339()})),
    )
    .await;
    assert_eq!(status, 201);
    // Wait for the projections (the export reads them).
    read(&client, "/api/messages/scheduled", &alice, &token).await;
    read(&client, "/api/messages/blocked", &alice, &token).await;
    read(&client, "/api/messages/sent", &alice, &token).await;

    let (status, headers, body) = download(&client, "/api/me/export", &alice).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    let disposition = headers["content-disposition"].to_str().unwrap_or_default();
    assert!(
        disposition.starts_with("attachment; filename=\"healing-space-alice-"),
        "{disposition}"
    );
    let export: Value = serde_json::from_slice(&body).expect("one JSON document");
    assert_eq!(export["user"]["username"], "alice");
    assert_eq!(export["user"]["role"], "patient");
    assert!(export["generated_at"].is_string());
    let messages = export["messages"].as_array().expect("messages");
    let ids: Vec<&str> = messages
        .iter()
        .filter_map(|m| m["message_id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [sent["message_id"].as_str().expect("id"), received.as_str()],
        "{export}"
    );
    assert_eq!(messages[0]["content"], "From alice");
    assert_eq!(messages[0]["deleted"], false);
    assert_eq!(
        messages[1]["deleted"], true,
        "her own deletion, still her record"
    );
    assert_eq!(messages[1]["sender"], "bob");
    assert!(!String::from_utf8_lossy(&body).contains(other["message_id"].as_str().expect("id")));
    assert_eq!(export["blocked"][0]["username"], "dr_dave");
    assert_eq!(export["scheduled"][0]["content"], "Later");
    assert_eq!(export["templates"], json!([]));
    // A clinician's export carries their templates.
    let (status, _, token) = call(
        &client,
        "POST",
        "/api/messages/templates",
        &carol,
        Some(json!({"title": "Hello", "content": "Welcome"})),
    )
    .await;
    assert_eq!(status, 201);
    read(&client, "/api/messages/templates", &carol, &token).await;
    let (_, _, body) = download(&client, "/api/me/export", &carol).await;
    let export: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(export["templates"][0]["title"], "Hello");
    // Audited as an access (written off the request path: wait for it); anonymous callers get
    // 401.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let recorded: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM access_log WHERE action = 'records_exported' AND actor = 'alice'",
        )
        .fetch_one(&pool)
        .await
        .expect("count");
        if recorded == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the export was not recorded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, _, _) = client
        .request("GET", "/api/me/export", None, None, None)
        .await;
    assert!(status.contains("401"), "{status}");
}

/// The resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[sqlx::test]
async fn an_export_of_100k_messages_streams_in_flat_memory(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (url, gateway, client) = seeded_gateway(&options, &[]).await;
    let pool = PgPool::connect(&url).await.expect("pool");
    // 100,000 messages of alice's (about 40 MB of JSON), straight into the read table the
    // export reads.
    sqlx::query(
        "INSERT INTO messages (id, sender_username, recipient_username, subject, content,
             is_read, sent_at, is_deleted_by_sender, is_deleted_by_recipient, created_at,
             updated_at)
         SELECT gen_random_uuid(),
                CASE WHEN i % 2 = 0 THEN 'alice' ELSE 'bob' END,
                CASE WHEN i % 2 = 0 THEN 'bob' ELSE 'alice' END,
                'Subject ' || i, repeat('words of a long message ', 12) || i, false,
                timestamp '2026-01-01' + i * interval '1 second', false, false,
                timestamp '2026-01-01', timestamp '2026-01-01'
         FROM generate_series(1, 100000) i",
    )
    .execute(&pool)
    .await
    .expect("messages");
    let alice = client.login("alice").await;
    let pid = gateway.child.id().expect("running");
    // Warm up (allocator arenas, statement caches) on a first export, then measure another.
    let (status, _, _) = download(&client, "/api/me/export", &alice).await;
    assert_eq!(status, 200);
    let baseline = rss_kib(pid);
    let mut response = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/api/me/export", client.port))
        .header("cookie", &alice.cookie)
        .send()
        .await
        .expect("answer");
    let (mut bytes, mut peak, mut chunks) = (0usize, baseline, 0usize);
    let mut tail = Vec::new();
    while let Some(chunk) = response.chunk().await.expect("chunk") {
        bytes += chunk.len();
        chunks += 1;
        tail = chunk.to_vec();
        if chunks % 20 == 0 {
            peak = peak.max(rss_kib(pid));
            // A slow reader: the server must wait for it rather than buffer.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    peak = peak.max(rss_kib(pid));
    assert!(bytes > 30_000_000, "a real export: {bytes} bytes");
    assert!(String::from_utf8_lossy(&tail).ends_with("]}\n"), "complete");
    let growth_kib = peak.saturating_sub(baseline);
    assert!(
        growth_kib < 16 * 1024,
        "the gateway grew by {growth_kib} KiB while streaming {bytes} bytes"
    );
    println!("export: {bytes} bytes in {chunks} chunks, RSS {baseline} KiB + {growth_kib} KiB");
}

#[sqlx::test]
async fn a_patient_sees_who_else_read_their_messages(_: PgPoolOptions, options: PgConnectOptions) {
    let (url, _gateway, client) = seeded_gateway(&options, &[]).await;
    let alice = client.login("alice").await;
    let bob = client.login("bob").await;
    let admin = client.login("admin").await;
    let auditor = client.login("auditor").await;
    let (_, hidden) = send(&client, &alice, "bob", "Private").await;
    let hidden = hidden["message_id"].as_str().expect("id").to_owned();
    let (_, kept) = send(&client, &bob, "alice", "Kept").await;
    let kept = kept["message_id"].as_str().expect("id").to_owned();
    for session in [&alice, &bob] {
        let (status, _, _) = call(
            &client,
            "DELETE",
            &format!("/api/messages/{hidden}"),
            session,
            None,
        )
        .await;
        assert_eq!(status, 204);
    }
    // bob reads the conversation (a counterpart: no disclosure); the admin lists hidden
    // messages; the auditor views alice's trail.
    read(&client, "/api/messages/conversation/alice", &bob, "").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let listed = read(&client, "/api/admin/messages/deleted", &admin, "").await;
        if listed["messages"][0]["message_id"] == hidden.as_str() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{listed}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let trail = read(&client, "/api/audit/log?actor=bob", &auditor, "").await;
    assert!(!trail["entries"].as_array().expect("entries").is_empty());

    // The access log is written off the request path: wait for it.
    let pool = PgPool::connect(&url).await.expect("pool");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM access_log WHERE action IN ('deleted_listed', 'audit_viewed')",
    )
    .fetch_one(&pool)
    .await
    .expect("count")
        < 2
    {
        assert!(tokio::time::Instant::now() < deadline, "reads not recorded");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let log = read(&client, "/api/me/access-log", &alice, "").await;
    let entries = log["entries"].as_array().expect("entries");
    let actions: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"audit_viewed"), "{log}");
    assert!(actions.contains(&"deleted_listed"), "{log}");
    assert!(
        entries
            .iter()
            .all(|e| e["actor"] != "bob" && e["actor"] != "alice"),
        "neither she nor her counterpart: {log}"
    );
    let listed = entries
        .iter()
        .find(|e| e["action"] == "deleted_listed")
        .expect("the admin's read");
    assert_eq!(listed["actor"], "admin");
    assert_eq!(listed["role"], "admin");
    assert_eq!(listed["message_ids"], json!([hidden]));
    assert!(listed["occurred_at"].is_string());
    assert!(!log.to_string().contains(&kept) || actions.contains(&"audit_viewed"));
    // Newest first, keyset-paged.
    let first = read(&client, "/api/me/access-log?limit=1", &alice, "").await;
    assert_eq!(first["entries"][0], entries[0]);
    let cursor = first["next_cursor"].as_str().expect("more");
    let second = read(
        &client,
        &format!("/api/me/access-log?limit=1&cursor={cursor}"),
        &alice,
        "",
    )
    .await;
    assert_eq!(second["entries"][0], entries[1]);
    // bob sees the admin's read too (it was his message as well); patients only.
    let bobs = read(&client, "/api/me/access-log", &bob, "").await;
    assert!(bobs["entries"].as_array().is_some_and(|e| !e.is_empty()));
    for session in [&admin, &auditor, &client.login("dr_carol").await] {
        let (status, body, _) = call(&client, "GET", "/api/me/access-log", session, None).await;
        assert_eq!((status, code(&body)), (403, "forbidden"));
    }
    let (status, _, _) = call(
        &client,
        "GET",
        "/api/me/access-log?cursor=forged",
        &alice,
        None,
    )
    .await;
    assert_eq!(status, 400);
}
