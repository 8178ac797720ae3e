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
