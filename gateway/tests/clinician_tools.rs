//! The clinician tools through the real gateway binary (its projector and scheduler inside):
//! templates, scheduled messages and their delivery, broadcasts; every success and error of the
//! contract's "Clinician tools" rows, and the scheduler's exactly-once delivery when two
//! schedulers race, when one is killed with SIGKILL, and across a revoked approval.

use std::time::Duration;

use chrono::{DateTime, Utc};
use command_service::scheduler::{deliver_due, Delivery};
use command_service::streams::{execute_on, Writer};
use command_service::{CommitSignal, EventMetadata};
use events::{ScheduledCommand, ScheduledMessage};
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use uuid::Uuid;

mod support;

use support::*;

/// The seeded demo database and a gateway on it (scheduler polling every 100 ms).
async fn seeded_gateway(options: &PgConnectOptions) -> (String, Running, Client) {
    let url = database_url(options);
    assert!(hs_admin(&url, &["migrate"]).status.success());
    assert!(hs_admin(&url, &["seed-demo"]).status.success());
    let gateway = spawn_gateway(&url, &[("SCHEDULER_POLL_MS", "100".to_owned())]).await;
    let client = Client::new(gateway.port);
    (url, gateway, client)
}

/// One request; the status code and the JSON body (`Null` when empty).
async fn call(
    client: &Client,
    method: &str,
    path: &str,
    session: &Login,
    body: Option<Value>,
) -> (u16, Value, String) {
    let body = body.map(|b| b.to_string());
    let (status, headers, answer) = client
        .request(method, path, Some(session), body.as_deref(), None)
        .await;
    let code = status
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let json = serde_json::from_str(&answer).unwrap_or(Value::Null);
    let token = header(&headers, "x-consistency-token").unwrap_or_default();
    (code, json, token)
}

/// A read that waits for `token` (the effect of the caller's last command).
async fn read(client: &Client, path: &str, session: &Login, token: &str) -> Value {
    let (status, _, answer) = client
        .request(
            "GET",
            path,
            Some(session),
            None,
            Some(token).filter(|t| !t.is_empty()),
        )
        .await;
    assert!(
        status.starts_with("HTTP/1.1 200"),
        "{path}: {status} {answer}"
    );
    serde_json::from_str(&answer).expect("json")
}

/// A POST with an `Idempotency-Key`; the status and the JSON body.
async fn keyed_post(
    client: &Client,
    path: &str,
    session: &Login,
    key: &str,
    body: &Value,
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}{path}", client.port))
        .header("cookie", &session.cookie)
        .header("x-csrf-token", &session.csrf)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("answer");
    let status = response.status().as_u16();
    (
        status,
        response.json::<Value>().await.unwrap_or(Value::Null),
    )
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}

#[sqlx::test]
async fn templates_are_a_clinicians_own_with_limits_and_a_cap(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (url, _gateway, client) = seeded_gateway(&options).await;
    let carol = client.login("dr_carol").await;
    let dave = client.login("dr_dave").await;
    let alice = client.login("alice").await;
    let path = "/api/messages/templates";

    let (status, created, _) = call(
        &client,
        "POST",
        path,
        &carol,
        Some(json!({"title": "  Welcome  ", "subject": "Hello", "content": "Welcome to the clinic."})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["template_id"].as_str().expect("id").to_owned();
    let (status, _, token) = call(
        &client,
        "POST",
        path,
        &carol,
        Some(json!({"title": "appointment", "content": "See you on Monday."})),
    )
    .await;
    assert_eq!(status, 201);
    let list = read(&client, path, &carol, &token).await;
    let titles: Vec<&str> = list["templates"]
        .as_array()
        .expect("templates")
        .iter()
        .filter_map(|t| t["title"].as_str())
        .collect();
    assert_eq!(
        titles,
        ["appointment", "Welcome"],
        "by title, case-insensitive: {list}"
    );
    assert_eq!(list["templates"][1]["subject"], "Hello");
    assert!(list["templates"][1]["updated_at"].is_string());

    // Errors: invalid input (before the role), other roles, other clinicians.
    for bad in [
        json!({"title": "", "content": "x"}),
        json!({"title": "t".repeat(101), "content": "x"}),
        json!({"title": "two\nlines", "content": "x"}),
        json!({"title": "ok", "content": "   "}),
        json!({"title": "ok", "subject": "s".repeat(256), "content": "x"}),
        json!({"title": "ok"}),
    ] {
        let (status, body, _) = call(&client, "POST", path, &carol, Some(bad.clone())).await;
        assert_eq!(
            (status, code(&body)),
            (400, "invalid_input"),
            "{bad}: {body}"
        );
    }
    let (status, body, _) = call(
        &client,
        "POST",
        path,
        &alice,
        Some(json!({"title": "mine", "content": "x"})),
    )
    .await;
    assert_eq!((status, code(&body)), (403, "forbidden"), "{body}");
    let (status, body, _) = call(&client, "GET", path, &alice, None).await;
    assert_eq!((status, code(&body)), (403, "forbidden"), "{body}");
    let one = format!("{path}/{id}");
    let change = json!({"title": "Welcome!", "content": "Welcome, again."});
    let (status, body, _) = call(&client, "PUT", &one, &dave, Some(change.clone())).await;
    assert_eq!(
        (status, code(&body)),
        (404, "not_found"),
        "another clinician's: {body}"
    );
    let (status, body, _) = call(&client, "DELETE", &one, &dave, None).await;
    assert_eq!((status, code(&body)), (404, "not_found"), "{body}");
    let (status, body, _) = call(
        &client,
        "PUT",
        &format!("{path}/nope"),
        &carol,
        Some(change.clone()),
    )
    .await;
    assert_eq!((status, code(&body)), (400, "invalid_input"), "{body}");

    // The owner changes and deletes; a repeated delete is 404.
    let (status, changed, token) = call(&client, "PUT", &one, &carol, Some(change)).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["template_id"], id.as_str());
    let list = read(&client, path, &carol, &token).await;
    assert_eq!(list["templates"][1]["title"], "Welcome!");
    assert_eq!(
        list["templates"][1]["subject"],
        Value::Null,
        "a PUT replaces the whole text"
    );
    assert_eq!(list["templates"][1]["updated_at"], changed["updated_at"]);
    let (status, _, token) = call(&client, "DELETE", &one, &carol, None).await;
    assert_eq!(status, 204);
    let (status, body, _) = call(&client, "DELETE", &one, &carol, None).await;
    assert_eq!((status, code(&body)), (404, "not_found"), "{body}");
    let list = read(&client, path, &carol, &token).await;
    assert_eq!(
        list["templates"].as_array().map(Vec::len),
        Some(1),
        "{list}"
    );
    let dave_list = read(&client, path, &dave, &token).await;
    assert_eq!(dave_list["templates"], json!([]));

    // A repeated key answers the same template and creates nothing.
    let keyed = json!({"title": "keyed", "content": "x"});
    let (status, first) = keyed_post(&client, path, &carol, "tpl-1", &keyed).await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = keyed_post(&client, path, &carol, "tpl-1", &keyed).await;
    assert_eq!((status, &again), (201, &first));

    // The cap: 200 live templates; the 201st is 409 until one is deleted.
    for n in 2..200 {
        let body = json!({"title": format!("t{n}"), "content": "x"});
        let (status, answer, _) = call(&client, "POST", path, &carol, Some(body)).await;
        assert_eq!(status, 201, "template {n}: {answer}");
    }
    let (status, body, _) = call(
        &client,
        "POST",
        path,
        &carol,
        Some(json!({"title": "one too many", "content": "x"})),
    )
    .await;
    assert_eq!((status, code(&body)), (409, "conflict"), "{body}");
    let pool = PgPool::connect(&url).await.expect("pool");
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'template_book' AND aggregate_id = 'dr_carol'",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(
        stored, 203,
        "2 + 199 created, 1 changed, 1 deleted; nothing for refusals"
    );
}

#[sqlx::test]
async fn a_scheduled_message_is_listed_changed_cancelled_and_refused_by_the_rules(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (_url, _gateway, client) = seeded_gateway(&options).await;
    let carol = client.login("dr_carol").await;
    let alice = client.login("alice").await;
    let bob = client.login("bob").await;
    let path = "/api/messages/scheduled";
    let in_minutes = |m: i64| (Utc::now() + chrono::Duration::minutes(m)).to_rfc3339();

    let (status, created, _) = call(
        &client,
        "POST",
        path,
        &carol,
        Some(
            json!({"recipient": "alice", "subject": "Tomorrow", "content": "Remember to rest.",
                    "send_at": in_minutes(60)}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["scheduled_id"].as_str().expect("id").to_owned();
    assert!(created["send_at"].is_string());
    let (status, second, token) = call(
        &client,
        "POST",
        path,
        &carol,
        Some(json!({"recipient": "alice", "content": "Earlier one", "send_at": in_minutes(30)})),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    let list = read(&client, path, &carol, &token).await;
    let items = list["scheduled"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{list}");
    assert_eq!(
        items[0]["content"], "Earlier one",
        "send_at ascending: {list}"
    );
    assert_eq!(items[1]["status"], "pending");
    assert_eq!(items[1]["message_id"], Value::Null);
    assert_eq!(list["next_cursor"], Value::Null);
    let page = read(&client, &format!("{path}?limit=1"), &carol, &token).await;
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let next = read(
        &client,
        &format!("{path}?limit=1&cursor={cursor}"),
        &carol,
        &token,
    )
    .await;
    assert_eq!(next["scheduled"][0]["scheduled_id"], id.as_str());
    let others = read(&client, path, &alice, &token).await;
    assert_eq!(others["scheduled"], json!([]), "only one's own");
    let keyed = json!({"recipient": "bob", "content": "Keyed", "send_at": in_minutes(10)});
    let (status, first) = keyed_post(&client, path, &alice, "later-1", &keyed).await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = keyed_post(&client, path, &alice, "later-1", &keyed).await;
    assert_eq!(
        (status, &again),
        (201, &first),
        "a repeat schedules nothing new"
    );

    // Errors of scheduling: limits, time window, oneself, the policy, unknown users.
    for (bad, expected) in [
        (
            json!({"recipient": "alice", "content": "x", "send_at": in_minutes(0)}),
            400,
        ),
        (
            json!({"recipient": "alice", "content": "x", "send_at": in_minutes(366 * 24 * 60)}),
            400,
        ),
        (
            json!({"recipient": "alice", "content": "x", "send_at": "tomorrow"}),
            400,
        ),
        (
            json!({"recipient": "alice", "content": "", "send_at": in_minutes(5)}),
            400,
        ),
        (
            json!({"recipient": "dr_carol", "content": "x", "send_at": in_minutes(5)}),
            400,
        ),
        (
            json!({"recipient": "bob", "content": "x", "send_at": in_minutes(5)}),
            403,
        ),
        (
            json!({"recipient": "nobody", "content": "x", "send_at": in_minutes(5)}),
            404,
        ),
    ] {
        let (status, body, _) = call(&client, "POST", path, &carol, Some(bad.clone())).await;
        assert_eq!(status, expected, "{bad}: {body}");
    }
    // A patient may not start a message to a clinician, later either.
    let (status, body, _) = call(
        &client,
        "POST",
        path,
        &alice,
        Some(json!({"recipient": "dr_carol", "content": "x", "send_at": in_minutes(5)})),
    )
    .await;
    assert_eq!((status, code(&body)), (403, "forbidden"), "{body}");

    // The author edits (a null subject removes it); nobody else can.
    let one = format!("{path}/{id}");
    let (status, item, token) = call(
        &client,
        "PATCH",
        &one,
        &carol,
        Some(json!({"subject": null, "content": "Remember to rest well.", "send_at": in_minutes(90)})),
    )
    .await;
    assert_eq!(status, 200, "{item}");
    assert_eq!(item["subject"], Value::Null);
    assert_eq!(item["content"], "Remember to rest well.");
    assert_eq!(item["status"], "pending");
    let list = read(&client, path, &carol, &token).await;
    assert_eq!(list["scheduled"][1]["content"], "Remember to rest well.");
    for (session, body, expected) in [
        (&bob, json!({"content": "hijack"}), 404),
        (&carol, json!({}), 400),
        (&carol, json!({"send_at": in_minutes(0)}), 400),
        (&carol, json!({"content": " "}), 400),
    ] {
        let (status, answer, _) = call(&client, "PATCH", &one, session, Some(body.clone())).await;
        assert_eq!(status, expected, "{body}: {answer}");
    }
    let (status, body, _) = call(&client, "DELETE", &one, &bob, None).await;
    assert_eq!((status, code(&body)), (404, "not_found"));

    // Cancel; then it is no longer pending.
    let (status, _, token) = call(&client, "DELETE", &one, &carol, None).await;
    assert_eq!(status, 204);
    let (status, body, _) = call(&client, "DELETE", &one, &carol, None).await;
    assert_eq!((status, code(&body)), (409, "conflict"), "{body}");
    let (status, body, _) = call(
        &client,
        "PATCH",
        &one,
        &carol,
        Some(json!({"content": "x"})),
    )
    .await;
    assert_eq!((status, code(&body)), (409, "conflict"), "{body}");
    let list = read(&client, path, &carol, &token).await;
    assert_eq!(list["scheduled"][1]["status"], "cancelled", "{list}");
}

/// A writer of this test's own, as the scheduler has (to schedule "in the past": the domain
/// takes the time from the command, as if the message had been scheduled minutes ago).
fn writer(pool: &PgPool) -> Writer {
    Writer {
        pool: pool.clone(),
        directory: std::sync::Arc::new(accounts::PgDirectory::new(pool.clone())),
        signal: CommitSignal::relay_to_postgres(pool.clone(), Duration::from_millis(10)),
    }
}

/// Schedules `content` from `author` to `recipient`, due at `send_at` (scheduled 2 minutes
/// before it).
async fn schedule(
    writer: &Writer,
    author: &str,
    recipient: &str,
    content: &str,
    send_at: DateTime<Utc>,
) -> Uuid {
    let scheduled_id = Uuid::new_v4();
    let command = ScheduledCommand::Schedule {
        scheduled_id,
        author: author.into(),
        recipient: recipient.into(),
        subject: Some("Later".into()),
        content: content.into(),
        send_at,
        at: send_at - chrono::Duration::minutes(2),
    };
    let metadata = EventMetadata::scheduler(author, "test", scheduled_id);
    execute_on::<ScheduledMessage>(
        writer,
        "schedule",
        &scheduled_id.to_string(),
        command,
        &metadata,
    )
    .await
    .expect("scheduled");
    scheduled_id
}

/// `(scheduled id, delivered message id, sent_at)` of every delivery in the log.
async fn deliveries(pool: &PgPool) -> Vec<(Uuid, Uuid, DateTime<Utc>)> {
    let rows: Vec<(String, Value)> = sqlx::query_as(
        "SELECT aggregate_id, payload FROM events
         WHERE event_type = 'ScheduledMessageDelivered' ORDER BY global_position",
    )
    .fetch_all(pool)
    .await
    .expect("deliveries");
    rows.into_iter()
        .map(|(id, payload)| {
            let delivered = &payload["ScheduledMessageDelivered"];
            (
                id.parse().expect("uuid"),
                delivered["message_id"]
                    .as_str()
                    .and_then(|m| m.parse().ok())
                    .expect("message"),
                delivered["delivered_at"]
                    .as_str()
                    .and_then(|t| t.parse().ok())
                    .expect("time"),
            )
        })
        .collect()
}

/// Scheduled messages sent as messages (`MessageSent` on the `scheduled` channel).
async fn scheduled_sends(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type = 'MessageSent'
         AND payload -> 'MessageSent' ->> 'channel' = 'scheduled'",
    )
    .fetch_one(pool)
    .await
    .expect("count")
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[sqlx::test]
async fn the_gateway_delivers_a_due_message_within_two_seconds_as_an_ordinary_message(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (url, _gateway, client) = seeded_gateway(&options).await;
    let pool = PgPool::connect(&url).await.expect("pool");
    let writer = writer(&pool);
    let send_at = Utc::now() + chrono::Duration::milliseconds(1500);
    let id = schedule(&writer, "dr_carol", "alice", "Good morning", send_at).await;
    wait_for("the delivery", async || !deliveries(&pool).await.is_empty()).await;
    let delivered = deliveries(&pool).await;
    assert_eq!(delivered.len(), 1);
    let (scheduled_id, message_id, sent_at) = delivered[0];
    assert_eq!(scheduled_id, id);
    assert_eq!(
        message_id,
        events::delivered_message_id(id),
        "derived from the scheduled id"
    );
    let late = sent_at - send_at;
    assert!(
        late >= chrono::Duration::zero() && late < chrono::Duration::seconds(2),
        "delivered {late} after send_at"
    );
    // Alice finds it in her conversation like any message; carol sees it sent.
    let alice = client.login("alice").await;
    let carol = client.login("dr_carol").await;
    wait_for("the projection", async || {
        let thread = read(&client, "/api/messages/conversation/dr_carol", &alice, "").await;
        thread["messages"][0]["message_id"] == message_id.to_string()
    })
    .await;
    let list = read(&client, "/api/messages/scheduled", &carol, "").await;
    assert_eq!(list["scheduled"][0]["status"], "sent", "{list}");
    assert_eq!(list["scheduled"][0]["message_id"], message_id.to_string());
    // It is no longer pending: no edit, no cancel.
    let one = format!("/api/messages/scheduled/{id}");
    let (status, _, _) = call(&client, "DELETE", &one, &carol, None).await;
    assert_eq!(status, 409);
    assert_eq!(scheduled_sends(&pool).await, 1);
    // Audited: the delivery names the message, never its text.
    let auditor = client.login("auditor").await;
    let audit = read(
        &client,
        "/api/audit/log?action=scheduled_message_delivered",
        &auditor,
        "",
    )
    .await;
    let entry = &audit["entries"][0];
    assert_eq!(entry["message_id"], message_id.to_string(), "{audit}");
    assert_eq!(entry["actor"], "dr_carol");
    assert_eq!(entry["details"]["scheduled_id"], id.to_string());
    assert!(
        !audit.to_string().contains("Good morning"),
        "no content: {audit}"
    );
}

#[sqlx::test]
async fn two_schedulers_racing_deliver_each_message_exactly_once(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let url = database_url(&options);
    assert!(hs_admin(&url, &["migrate"]).status.success());
    assert!(hs_admin(&url, &["seed-demo"]).status.success());
    let pool = PgPool::connect(&url).await.expect("pool");
    let writer = writer(&pool);
    let due = Utc::now() - chrono::Duration::seconds(1);
    for n in 0..80 {
        schedule(&writer, "dr_carol", "alice", &format!("m{n}"), due).await;
    }
    // The composer projection in process (no scheduler of its own): the racers find the due
    // messages in its read table.
    let stop = tokio_util::sync::CancellationToken::new();
    let runtime = projections::ProjectorRuntime::new(
        pool.clone(),
        projections::ProjectorSettings::from_env().expect("settings"),
    )
    .with_projections(&[projections::Projection::Composer])
    .spawn(stop.clone());
    wait_for("the projection", async || {
        let listed: i64 = sqlx::query_scalar("SELECT count(*) FROM scheduled_messages")
            .fetch_one(&pool)
            .await
            .unwrap_or(0);
        listed == 80
    })
    .await;
    // Three racers on the same due list, bypassing leadership: only derived ids and the
    // streams' optimistic concurrency stand between them and a duplicate.
    let now = Utc::now();
    let racers: Vec<_> = (0..3)
        .map(|_| {
            let writer = writer.clone();
            tokio::spawn(async move { deliver_due(&writer, now).await })
        })
        .collect();
    let mut sent = 0;
    for racer in racers {
        let done = racer.await.expect("racer").expect("round");
        sent += done
            .iter()
            .filter(|d| matches!(d, Delivery::Sent(_)))
            .count();
    }
    let delivered = deliveries(&pool).await;
    assert_eq!(
        delivered.len(),
        80,
        "every due message is delivered once the racers are done"
    );
    let mut scheduled: Vec<Uuid> = delivered.iter().map(|d| d.0).collect();
    scheduled.sort();
    scheduled.dedup();
    assert_eq!(scheduled.len(), 80, "one delivery per scheduled message");
    assert_eq!(
        scheduled_sends(&pool).await,
        80,
        "one message per scheduled message"
    );
    assert!(sent <= 80);
    for (scheduled_id, message_id, _) in delivered {
        assert_eq!(message_id, events::delivered_message_id(scheduled_id));
    }
    stop.cancel();
    runtime.await.expect("projector");
}

#[sqlx::test]
async fn a_scheduler_killed_mid_round_loses_nothing_and_duplicates_nothing(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let url = database_url(&options);
    assert!(hs_admin(&url, &["migrate"]).status.success());
    assert!(hs_admin(&url, &["seed-demo"]).status.success());
    let pool = PgPool::connect(&url).await.expect("pool");
    let writer = writer(&pool);
    // Due while nothing runs: delivered at start-up.
    let due = Utc::now() - chrono::Duration::seconds(5);
    for n in 0..300 {
        schedule(&writer, "dr_carol", "alice", &format!("m{n}"), due).await;
    }
    let env = [("SCHEDULER_POLL_MS", "20".to_owned())];
    let mut first = support::spawn(&sibling_binary("projector"), &["run"], &url, &env, None).await;
    // SIGKILL right after its first delivery is in the log.
    wait_for("a first delivery", async || {
        scheduled_sends(&pool).await > 0
    })
    .await;
    first.child.start_kill().expect("kill -9");
    let _ = first.child.wait().await;
    let after_kill = scheduled_sends(&pool).await;
    assert!(
        (1..300).contains(&after_kill),
        "killed in the middle of its start-up round: {after_kill} of 300 sent"
    );
    let statuses: i64 = deliveries(&pool).await.len() as i64;
    assert_eq!(
        statuses, after_kill,
        "a message and its status are stored together or not at all"
    );
    // A restart delivers the rest, and nothing twice.
    let _second = support::spawn(&sibling_binary("projector"), &["run"], &url, &env, None).await;
    wait_for("every delivery", async || {
        deliveries(&pool).await.len() == 300
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(scheduled_sends(&pool).await, 300);
    assert_eq!(deliveries(&pool).await.len(), 300);
}

#[sqlx::test]
async fn a_revoked_approval_turns_a_scheduled_message_into_a_failure_with_a_reason(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (url, _gateway, client) = seeded_gateway(&options).await;
    let pool = PgPool::connect(&url).await.expect("pool");
    let carol = client.login("dr_carol").await;
    let (status, created, _) = call(
        &client,
        "POST",
        "/api/messages/scheduled",
        &carol,
        Some(json!({"recipient": "alice", "content": "Later",
                    "send_at": (Utc::now() + chrono::Duration::minutes(5)).to_rfc3339()})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    // One falls due in 2 s; the approval is revoked before that.
    let writer = writer(&pool);
    let due = schedule(
        &writer,
        "dr_carol",
        "alice",
        "Due now",
        Utc::now() + chrono::Duration::seconds(2),
    )
    .await;
    let admin = client.login("admin").await;
    let (status, body, _) = call(
        &client,
        "PUT",
        "/api/admin/patient-approvals",
        &admin,
        Some(json!({"clinician": "dr_carol", "patient": "alice", "status": "revoked"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    wait_for("the failure", async || {
        let list = read(&client, "/api/messages/scheduled", &carol, "").await;
        list["scheduled"][0]["status"] == "failed"
    })
    .await;
    let list = read(&client, "/api/messages/scheduled", &carol, "").await;
    let failed = &list["scheduled"][0];
    assert_eq!(failed["scheduled_id"], due.to_string());
    assert_eq!(failed["failure"], events::POLICY_REFUSAL, "{list}");
    assert_eq!(failed["message_id"], Value::Null);
    assert_eq!(list["scheduled"][1]["status"], "pending");
    assert_eq!(scheduled_sends(&pool).await, 0, "nothing was sent");
    // A failed message cannot be edited or cancelled any more.
    let (status, _, _) = call(
        &client,
        "DELETE",
        &format!("/api/messages/scheduled/{due}"),
        &carol,
        None,
    )
    .await;
    assert_eq!(status, 409);
}

#[sqlx::test]
async fn a_broadcast_reaches_each_approved_patient_once_even_when_repeated(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (url, _gateway, client) = seeded_gateway(&options).await;
    let pool = PgPool::connect(&url).await.expect("pool");
    for patient in ["erin", "frank"] {
        accounts::create_user(
            &pool,
            accounts::NewUser {
                username: patient.into(),
                role: events::Role::Patient,
                password: "healing-demo".into(),
                display_name: None,
            },
        )
        .await
        .expect("user");
        accounts::set_approval(
            &pool,
            "dr_carol",
            patient,
            accounts::ApprovalStatus::Approved,
        )
        .await
        .expect("approval");
    }
    // frank's approval is revoked: he is not reached.
    accounts::set_approval(
        &pool,
        "dr_carol",
        "frank",
        accounts::ApprovalStatus::Revoked,
    )
    .await
    .expect("revoked");
    let carol = client.login("dr_carol").await;
    let path = "/api/clinician/messages/broadcast";
    let body = json!({"subject": "Clinic closed", "message": "The clinic is closed on Friday."});
    let broadcast = |key: &'static str| {
        let body = body.to_string();
        let cookie = carol.cookie.clone();
        let csrf = carol.csrf.clone();
        let port = client.port;
        async move {
            let response = reqwest::Client::new()
                .post(format!("http://127.0.0.1:{port}{path}"))
                .header("cookie", cookie)
                .header("x-csrf-token", csrf)
                .header("idempotency-key", key)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("answer");
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    // Two racing repeats of one key: one broadcast, the same answer twice.
    let ((s1, a1), (s2, a2)) = tokio::join!(broadcast("friday-1"), broadcast("friday-1"));
    assert_eq!((s1, s2), (201, 201), "{a1} {a2}");
    assert_eq!(a1, a2, "the repeat answers the same body");
    assert_eq!(a1["recipients"], 2, "alice and erin: {a1}");
    let ids: Vec<String> = a1["message_ids"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), 2);
    let (status, again) = broadcast("friday-1").await;
    assert_eq!((status, &again), (201, &a1));
    let sends: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE payload -> 'MessageSent' ->> 'channel' = 'broadcast'",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(sends, 2, "no patient got two copies");
    // Each patient reads it as an ordinary message from carol.
    for patient in ["alice", "erin"] {
        let session = client.login(patient).await;
        wait_for("the projection", async || {
            let thread = read(&client, "/api/messages/conversation/dr_carol", &session, "").await;
            thread["messages"].as_array().is_some_and(|m| {
                m.iter()
                    .any(|m| ids.iter().any(|id| m["message_id"] == id.as_str()))
            })
        })
        .await;
    }
    // A new key is a new broadcast.
    let (status, other) = broadcast("friday-2").await;
    assert_eq!(status, 201);
    assert_ne!(other["broadcast_id"], a1["broadcast_id"]);

    // Errors: a patient, invalid input, more than 500 patients.
    let alice = client.login("alice").await;
    let (status, answer, _) = call(&client, "POST", path, &alice, Some(body.clone())).await;
    assert_eq!((status, code(&answer)), (403, "forbidden"), "{answer}");
    for bad in [
        json!({"message": ""}),
        json!({"subject": "x".repeat(256), "message": "x"}),
        json!({}),
    ] {
        let (status, answer, _) = call(&client, "POST", path, &carol, Some(bad.clone())).await;
        assert_eq!(
            (status, code(&answer)),
            (400, "invalid_input"),
            "{bad}: {answer}"
        );
    }
    sqlx::query(
        "INSERT INTO users (username, role, password_hash, display_name)
         SELECT 'p' || n, 'patient', u.password_hash, 'P' || n
         FROM generate_series(1, 500) n, users u WHERE u.username = 'alice'",
    )
    .execute(&pool)
    .await
    .expect("patients");
    sqlx::query(
        "INSERT INTO patient_approvals (clinician, patient, status)
         SELECT 'dr_carol', 'p' || n, 'approved' FROM generate_series(1, 500) n",
    )
    .execute(&pool)
    .await
    .expect("approvals");
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .expect("count");
    let (status, answer, _) = call(&client, "POST", path, &carol, Some(body)).await;
    assert_eq!(
        (status, code(&answer)),
        (400, "invalid_input"),
        "502 patients: {answer}"
    );
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(before, after, "a refused broadcast stores nothing");
}
