//! The query endpoints through the router, with real sessions, against projections of real
//! commands: shapes, roles, visibility, paging and errors of `API.md`.

#[path = "../../projections/tests/common/mod.rs"]
mod projector;
mod support;

use std::time::Duration;

use axum::http::StatusCode;
use projector::world::mixed_workload;
use projector::{catch_up_all, World};
use serde_json::Value;
use sqlx::PgPool;
use support::{encode, get, login, ok, router, strings, Result};

const WAIT: Duration = Duration::from_secs(5);

const ENDPOINTS: &[&str] = &[
    "/api/messages/inbox",
    "/api/messages/sent",
    "/api/messages/conversation/bob",
    "/api/messages/search?q=budget",
    "/api/messages/unread-count",
    "/api/clinician/patients",
    "/api/clinician/triage",
    "/api/messages/search-recipients?q=dr",
    "/api/admin/messages/deleted",
    "/api/auth/me",
    "/api/csrf-token",
];

/// Every message id anywhere in a body.
fn ids_in(body: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    match body {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "message_id" {
                    ids.extend(value.as_str().map(str::to_owned));
                }
                ids.extend(ids_in(value));
            }
        }
        Value::Array(items) => items.iter().for_each(|v| ids.extend(ids_in(v))),
        _ => {}
    }
    ids
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn every_endpoint_answers_401_without_a_session(pool: PgPool) -> Result<()> {
    let app = router(&pool, None, WAIT)?;
    for path in ENDPOINTS {
        let (status, body) = get(&app, path, None, None).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(body["error"]["code"], "unauthenticated", "{path}");
        let (status, _) = get(&app, path, Some("hs_session=forged"), None).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_inbox_has_one_entry_per_counterpart_newest_first_with_unread_counts(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    world.send("bob", "alice", Some("Old"), "first").await?;
    let care = world
        .clinician_send("dr_carol", "alice", "How are you feeling?")
        .await?;
    let latest = world
        .send("bob", "alice", Some("Lunch"), &"x".repeat(300))
        .await?;
    catch_up_all(&pool).await?;
    let app = router(&pool, None, WAIT)?;
    let alice = login(&pool, "alice").await?;
    let inbox = ok(&app, "/api/messages/inbox", &alice).await?;
    assert_eq!(inbox["total_unread"], 3);
    assert_eq!(inbox["next_cursor"], Value::Null);
    let conversations = &inbox["conversations"];
    assert_eq!(strings(conversations, "with"), ["bob", "dr_carol"]);
    let bob = &conversations[0];
    assert_eq!(bob["with_role"], "patient");
    assert_eq!(bob["display_name"], "bob (display)");
    assert_eq!(bob["unread_count"], 2);
    assert_eq!(bob["last_message"]["message_id"], latest.to_string());
    assert_eq!(bob["last_message"]["sender"], "bob");
    assert_eq!(bob["last_message"]["subject"], "Lunch");
    assert_eq!(
        bob["last_message"]["preview"].as_str().map(str::len),
        Some(100)
    );
    assert_eq!(bob["last_activity_at"], bob["last_message"]["sent_at"]);
    assert_eq!(conversations[1]["with_role"], "clinician");
    assert_eq!(
        conversations[1]["last_message"]["message_id"],
        care.to_string()
    );

    let (status, unread) = get(&app, "/api/messages/unread-count", Some(&alice), None).await?;
    assert_eq!(
        (status, unread["unread"].as_i64()),
        (StatusCode::OK, Some(3))
    );
    let bob_session = login(&pool, "bob").await?;
    let sent = ok(&app, "/api/messages/sent", &bob_session).await?;
    assert_eq!(sent["messages"].as_array().map(Vec::len), Some(2));
    assert_eq!(sent["messages"][0]["message_id"], latest.to_string());
    assert_eq!(sent["messages"][0]["recipient"], "alice");
    assert_eq!(sent["messages"][0]["is_read"], false);
    assert_eq!(sent["messages"][0]["read_at"], Value::Null);
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn deleted_and_hidden_messages_appear_in_none_of_the_callers_results(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let kept = world
        .send("alice", "bob", Some("Budget kept"), "budget visible")
        .await?;
    let mine = world
        .send(
            "alice",
            "bob",
            Some("Budget mine"),
            "budget deleted by alice",
        )
        .await?;
    let hidden = world
        .send("bob", "alice", Some("Budget hidden"), "budget hidden")
        .await?;
    world.delete("alice", mine).await?;
    world.delete("alice", hidden).await?;
    world.delete("bob", hidden).await?;
    catch_up_all(&pool).await?;
    let app = router(&pool, None, WAIT)?;
    let paths = [
        "/api/messages/inbox",
        "/api/messages/sent",
        "/api/messages/conversation/bob",
        "/api/messages/conversation/alice",
        "/api/messages/search?q=budget",
    ];
    let alice = login(&pool, "alice").await?;
    for path in paths {
        let (_, body) = get(&app, path, Some(&alice), None).await?;
        let ids = ids_in(&body);
        assert!(!ids.contains(&mine.to_string()), "{path}: {body}");
        assert!(!ids.contains(&hidden.to_string()), "{path}: {body}");
    }
    let thread = ok(&app, "/api/messages/conversation/bob", &alice).await?;
    assert_eq!(ids_in(&thread), [kept.to_string()]);
    // Bob still has `mine` (only alice deleted it), but not the hidden one.
    let bob = login(&pool, "bob").await?;
    let thread = ok(&app, "/api/messages/conversation/alice", &bob).await?;
    assert_eq!(ids_in(&thread), [kept.to_string(), mine.to_string()]);
    let search = ok(&app, "/api/messages/search?q=hidden", &bob).await?;
    assert_eq!(search["results"], Value::Array(vec![]));
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_strangers_messages_never_appear(pool: PgPool) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    mixed_workload(&world).await?;
    catch_up_all(&pool).await?;
    let app = router(&pool, None, WAIT)?;
    let mine: Vec<(String, String)> = sqlx::query_as(
        "SELECT id::text, sender_username || '/' || recipient_username FROM messages",
    )
    .fetch_all(&pool)
    .await?;
    for (user, _) in projector::world::USERS {
        let session = login(&pool, user).await?;
        for path in [
            "/api/messages/inbox",
            "/api/messages/sent",
            "/api/messages/search?q=budget",
            "/api/messages/search?q=meeting",
            "/api/messages/search?q=feeling",
            "/api/messages/conversation/alice",
            "/api/messages/conversation/bob",
            "/api/messages/conversation/dr_carol",
        ] {
            let body = ok(&app, path, &session).await?;
            for id in ids_in(&body) {
                let (_, pair) = mine
                    .iter()
                    .find(|(m, _)| *m == id)
                    .ok_or_else(|| anyhow::anyhow!("unknown id {id}"))?;
                let participant = pair.split('/').any(|p| p == *user);
                assert!(participant, "{user} sees {pair}'s message on {path}");
            }
        }
    }
    let eve = login(&pool, "eve").await?;
    let thread = ok(&app, "/api/messages/conversation/bob", &eve).await?;
    assert!(strings(&thread["messages"], "sender")
        .iter()
        .all(|s| s == "bob" || s == "eve"));
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn pages_follow_each_other_without_gaps_or_repeats(pool: PgPool) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let mut sent = Vec::new();
    for n in 0..25 {
        sent.push(
            world
                .send("alice", "bob", Some("Budget"), &format!("budget {n}"))
                .await?,
        );
    }
    world.send("eve", "alice", None, "hi").await?;
    world.clinician_send("dr_carol", "alice", "hello").await?;
    catch_up_all(&pool).await?;
    let app = router(&pool, None, WAIT)?;
    let alice = login(&pool, "alice").await?;
    let newest_first: Vec<String> = sent.iter().rev().map(|id| id.to_string()).collect();

    for (path, list) in [
        ("/api/messages/sent?limit=10", "messages"),
        ("/api/messages/search?q=budget&limit=10", "results"),
        ("/api/messages/conversation/bob?limit=10", "messages"),
    ] {
        let (mut seen, mut cursor, mut pages) = (Vec::new(), None::<String>, 0);
        loop {
            let url = match &cursor {
                Some(c) => format!("{path}&cursor={}", encode(c)),
                None => path.to_owned(),
            };
            let body = ok(&app, &url, &alice).await?;
            let mut page = strings(&body[list], "message_id");
            if list == "messages" && path.contains("conversation") {
                page.reverse(); // oldest first within a page
            }
            seen.extend(page);
            pages += 1;
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(pages, 3, "{path}");
        if path.contains("search") {
            let mut sorted = seen.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), 25, "{path}: no repeats");
        } else {
            assert_eq!(seen, newest_first, "{path}");
        }
    }
    let mut with = Vec::new();
    let mut url = "/api/messages/inbox?limit=1".to_owned();
    loop {
        let body = ok(&app, &url, &alice).await?;
        with.extend(strings(&body["conversations"], "with"));
        match body["next_cursor"].as_str() {
            Some(next) => url = format!("/api/messages/inbox?limit=1&cursor={}", encode(next)),
            None => break,
        }
    }
    assert_eq!(with, ["dr_carol", "eve", "bob"]);
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_bad_or_tampered_cursor_is_invalid_input(pool: PgPool) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    for n in 0..3 {
        world
            .send("alice", "bob", Some("Budget"), &format!("budget {n}"))
            .await?;
    }
    catch_up_all(&pool).await?;
    let app = router(&pool, None, WAIT)?;
    let alice = login(&pool, "alice").await?;
    let sent = ok(&app, "/api/messages/sent?limit=1", &alice).await?;
    let cursor = sent["next_cursor"].as_str().unwrap_or_default().to_owned();
    assert!(!cursor.is_empty());
    let search = ok(&app, "/api/messages/search?q=budget&limit=1", &alice).await?;
    let search_cursor = search["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut tampered = cursor.clone().into_bytes();
    if let Some(first) = tampered.first_mut() {
        *first = if *first == b'W' { b'X' } else { b'W' };
    }
    let tampered = String::from_utf8(tampered)?;
    let bob = login(&pool, "bob").await?;
    let cases = [
        (
            format!("/api/messages/sent?cursor={}", encode(&tampered)),
            &alice,
        ),
        ("/api/messages/sent?cursor=garbage".to_owned(), &alice),
        ("/api/messages/sent?cursor=".to_owned(), &alice),
        (
            format!("/api/messages/sent?cursor={}", encode(&cursor)),
            &bob,
        ),
        (
            format!("/api/messages/inbox?cursor={}", encode(&cursor)),
            &alice,
        ),
        (
            format!("/api/messages/conversation/bob?cursor={}", encode(&cursor)),
            &alice,
        ),
        (
            format!(
                "/api/messages/search?q=budgets&cursor={}",
                encode(&search_cursor)
            ),
            &alice,
        ),
        (
            format!("/api/messages/search?q=budget&cursor={}", encode(&cursor)),
            &alice,
        ),
    ];
    for (path, session) in cases {
        let (status, body) = get(&app, &path, Some(session), None).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(body["error"]["code"], "invalid_input", "{path}");
    }
    let next = ok(
        &app,
        &format!("/api/messages/sent?limit=1&cursor={}", encode(&cursor)),
        &alice,
    )
    .await?;
    assert_eq!(next["messages"].as_array().map(Vec::len), Some(1));
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn limits_and_search_texts_outside_the_contract_are_invalid_input(
    pool: PgPool,
) -> Result<()> {
    World::new(pool.clone()).await?;
    let app = router(&pool, None, WAIT)?;
    let alice = login(&pool, "alice").await?;
    let long = "a".repeat(201);
    for path in [
        "/api/messages/inbox?limit=0".to_owned(),
        "/api/messages/sent?limit=101".to_owned(),
        "/api/messages/conversation/bob?limit=ten".to_owned(),
        "/api/messages/search".to_owned(),
        "/api/messages/search?q=".to_owned(),
        "/api/messages/search?q=%20%20".to_owned(),
        format!("/api/messages/search?q={long}"),
        "/api/messages/search?q=budget&limit=-5".to_owned(),
    ] {
        let (status, body) = get(&app, &path, Some(&alice), None).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(body["error"]["code"], "invalid_input", "{path}");
    }
    let fine = ok(
        &app,
        &format!("/api/messages/search?q={}", "a".repeat(200)),
        &alice,
    )
    .await?;
    assert_eq!(fine["results"], Value::Array(vec![]));
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn an_unknown_conversation_user_is_not_found(pool: PgPool) -> Result<()> {
    World::new(pool.clone()).await?;
    let app = router(&pool, None, WAIT)?;
    let alice = login(&pool, "alice").await?;
    for path in [
        "/api/messages/conversation/nobody",
        "/api/messages/conversation/Not%20Valid",
        "/api/messages/conversation/%FF",
    ] {
        let (status, body) = get(&app, path, Some(&alice), None).await?;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
    let empty = ok(&app, "/api/messages/conversation/eve", &alice).await?;
    assert_eq!(empty["with"], "eve");
    assert_eq!(empty["messages"], Value::Array(vec![]));
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn prepared_queries_keep_working_after_a_rebuild_swaps_the_tables(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    mixed_workload(&world).await?;
    catch_up_all(&pool).await?;
    let app = router(&pool, None, WAIT)?;
    let alice = login(&pool, "alice").await?;
    let admin = login(&pool, "admin").await?;
    let paths = [
        ("/api/messages/inbox", &alice),
        ("/api/messages/sent", &alice),
        ("/api/messages/search?q=budget", &alice),
        ("/api/messages/conversation/bob", &alice),
        ("/api/messages/unread-count", &alice),
        ("/api/admin/messages/deleted", &admin),
    ];
    let mut before = Vec::new();
    for (path, session) in paths {
        before.push(ok(&app, path, session).await?);
    }
    for projection in projections::Projection::ALL {
        projections::operator::rebuild(&pool, projection, 10, &|_| {}).await?;
    }
    for ((path, session), earlier) in paths.into_iter().zip(before) {
        assert_eq!(ok(&app, path, session).await?, earlier, "{path}");
    }
    Ok(())
}
