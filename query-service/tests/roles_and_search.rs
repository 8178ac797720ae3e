//! Search semantics and the role-specific endpoints.

#[path = "../../projections/tests/common/mod.rs"]
mod projector;
mod support;

use std::time::Duration;

use axum::http::StatusCode;
use events::Role;
use projector::world::mixed_workload;
use projector::{catch_up_all, World};
use serde_json::Value;
use sqlx::PgPool;
use support::{encode, get, login, ok, router, strings, Result};

const WAIT: Duration = Duration::from_secs(5);

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn search_matches_every_word_by_prefix_and_stem_best_match_first(pool: PgPool) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let in_content = world
        .send(
            "alice",
            "bob",
            Some("Notes"),
            "The budget for the <b>meeting</b> & more",
        )
        .await?;
    let in_subject = world
        .send("bob", "alice", Some("Budget"), "See you at noon")
        .await?;
    world
        .send("alice", "bob", Some("Other"), "Nothing relevant here")
        .await?;
    catch_up_all(&pool).await?;
    let app = router(&pool, None, WAIT)?;
    let alice = login(&pool, "alice").await?;
    let search = |q: &str| format!("/api/messages/search?q={}", encode(q));

    let found = ok(&app, &search("budg"), &alice).await?;
    assert_eq!(
        strings(&found["results"], "message_id"),
        [in_subject.to_string(), in_content.to_string()],
        "a subject match ranks above a content match"
    );
    for q in ["budgets", "BUDGET", "budget meetings", "meet budg"] {
        let body = ok(&app, &search(q), &alice).await?;
        assert!(
            strings(&body["results"], "message_id").contains(&in_content.to_string()),
            "{q}: {body}"
        );
    }
    for q in ["budget zebra", "the", "!!"] {
        let body = ok(&app, &search(q), &alice).await?;
        assert_eq!(body["results"], Value::Array(vec![]), "{q}");
    }
    // tsquery syntax in the words is just text: no error, and only `budget` is searched.
    let body = ok(&app, &search("budget & | ! ( ) :* '\\ <->"), &alice).await?;
    assert_eq!(body["results"].as_array().map(Vec::len), Some(2), "{body}");

    let body = ok(&app, &search("meeting"), &alice).await?;
    let hit = &body["results"][0];
    assert_eq!(hit["sender"], "alice");
    assert_eq!(hit["recipient"], "bob");
    assert_eq!(hit["subject"], "Notes");
    let snippet = hit["snippet"].as_str().unwrap_or_default();
    assert!(snippet.contains("<mark>meeting</mark>"), "{snippet}");
    assert!(snippet.contains("&amp;"), "{snippet}");
    assert!(!snippet.contains("<b>"), "{snippet}");
    Ok(())
}

/// The index holds `<owner>/<lexeme>` terms and the statement has no `owner = $1`: the
/// match alone must keep a search inside the caller's rows, also for names that are prefixes
/// of one another and for words that look like such a term.
#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn search_reaches_only_the_callers_rows_even_when_names_share_a_prefix(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    world.user("ann", Role::Patient).await?;
    world.user("anna", Role::Patient).await?;
    let annas = world
        .send(
            "bob",
            "anna",
            Some("Budget"),
            "ann/budget and anna/budget plans",
        )
        .await?;
    let anns = world
        .send("ann", "bob", Some("Hello"), "Nothing else")
        .await?;
    catch_up_all(&pool).await?;
    let app = router(&pool, None, WAIT)?;
    let search = |q: &str| format!("/api/messages/search?q={}", encode(q));

    let ann = login(&pool, "ann").await?;
    for q in ["budget", "budg", "anna", "ann", "plans"] {
        let body = ok(&app, &search(q), &ann).await?;
        assert_eq!(body["results"], Value::Array(vec![]), "ann, {q}: {body}");
    }
    let body = ok(&app, &search("hello"), &ann).await?;
    assert_eq!(strings(&body["results"], "message_id"), [anns.to_string()]);

    let anna = login(&pool, "anna").await?;
    for q in ["budget", "budg", "plans", "ann"] {
        let body = ok(&app, &search(q), &anna).await?;
        assert_eq!(
            strings(&body["results"], "message_id"),
            [annas.to_string()],
            "anna, {q}: {body}"
        );
    }
    let body = ok(&app, &search("hello"), &anna).await?;
    assert_eq!(body["results"], Value::Array(vec![]), "{body}");
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn search_texts_with_control_characters_or_nothing_visible_are_invalid_input(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    world
        .send(
            "alice",
            "bob",
            Some("Budget"),
            "The budget \u{1F4B0} for March",
        )
        .await?;
    catch_up_all(&pool).await?;
    let app = router(&pool, None, WAIT)?;
    let alice = login(&pool, "alice").await?;
    let search = |q: &str| format!("/api/messages/search?q={}", encode(q));
    let long = "b".repeat(201);
    let refused = [
        ("NUL", "budget\u{0}"),
        ("NUL alone", "\u{0}"),
        ("escape", "\u{1B}[31mbudget"),
        ("tab", "budget\tmarch"),
        ("line feed", "budget\nmarch"),
        ("DEL", "budget\u{7F}"),
        ("C1 control", "\u{9B}budget"),
        ("right-to-left override", "\u{202E}tegdub"),
        ("zero-width space", "\u{200B}"),
        ("invisible characters", " \u{FEFF}\u{2060}\u{301} "),
        ("empty", ""),
        ("too long", long.as_str()),
    ];
    for (case, q) in refused {
        let (status, body) = get(&app, &search(q), Some(&alice), None).await?;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_input")),
            "{case}: {body}"
        );
    }
    let (status, _) = get(&app, "/api/messages/search", Some(&alice), None).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "q missing");
    for q in [
        "budget",
        "\u{200B}budget",
        "budget \u{1F4B0}",
        "BUDGET March",
    ] {
        let body = ok(&app, &search(q), &alice).await?;
        assert_eq!(
            body["results"].as_array().map(Vec::len),
            Some(1),
            "{q:?}: {body}"
        );
    }
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_clinician_sees_approved_patients_and_other_roles_are_forbidden(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let care = world
        .clinician_send("dr_carol", "alice", "How are you?")
        .await?;
    world.reply("alice", care, "Fine").await?;
    world.reply("alice", care, "Really fine").await?;
    accounts::set_approval(&pool, "dr_carol", "bob", accounts::ApprovalStatus::Approved).await?;
    accounts::set_approval(&pool, "dr_carol", "eve", accounts::ApprovalStatus::Approved).await?;
    accounts::set_approval(&pool, "dr_carol", "eve", accounts::ApprovalStatus::Revoked).await?;
    catch_up_all(&pool).await?;
    let app = router(&pool, None, WAIT)?;
    let carol = login(&pool, "dr_carol").await?;
    let body = ok(&app, "/api/clinician/patients", &carol).await?;
    let patients = &body["patients"];
    assert_eq!(strings(patients, "username"), ["alice", "bob"]);
    assert_eq!(patients[0]["display_name"], "alice (display)");
    assert_eq!(patients[0]["unread_count"], 2);
    assert!(patients[0]["last_message_at"].is_string());
    assert_eq!(patients[1]["unread_count"], 0);
    assert_eq!(patients[1]["last_message_at"], Value::Null);
    let dave = login(&pool, "dr_dave").await?;
    assert_eq!(
        ok(&app, "/api/clinician/patients", &dave).await?["patients"],
        Value::Array(vec![])
    );
    for user in ["alice", "admin", "auditor"] {
        let session = login(&pool, user).await?;
        let (status, body) = get(&app, "/api/clinician/patients", Some(&session), None).await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{user}");
        assert_eq!(body["error"]["code"], "forbidden");
    }
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_admin_lists_hidden_messages_newest_first_and_other_roles_are_forbidden(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    mixed_workload(&world).await?;
    let mut hidden = Vec::new();
    for n in 0..3 {
        let id = world
            .send("bob", "alice", Some("Gone"), &format!("gone {n}"))
            .await?;
        world.delete("bob", id).await?;
        world.delete("alice", id).await?;
        hidden.push(id.to_string());
    }
    catch_up_all(&pool).await?;
    let app = router(&pool, None, WAIT)?;
    let admin = login(&pool, "admin").await?;
    let first = ok(&app, "/api/admin/messages/deleted?limit=2", &admin).await?;
    let cursor = first["next_cursor"].as_str().unwrap_or_default();
    let rest = ok(
        &app,
        &format!(
            "/api/admin/messages/deleted?limit=2&cursor={}",
            encode(cursor)
        ),
        &admin,
    )
    .await?;
    let mut listed = strings(&first["messages"], "message_id");
    listed.extend(strings(&rest["messages"], "message_id"));
    assert_eq!(
        listed.len(),
        4,
        "three hidden here, one in the workload, the restored one not"
    );
    assert_eq!(
        listed[..3],
        [hidden[2].clone(), hidden[1].clone(), hidden[0].clone()]
    );
    assert_eq!(rest["next_cursor"], Value::Null);
    let row = &first["messages"][0];
    assert_eq!(
        (row["sender"].as_str(), row["recipient"].as_str()),
        (Some("bob"), Some("alice"))
    );
    assert!(row["deleted_at"].is_string() && row["sent_at"].is_string());
    assert!(row.get("content").is_none());
    for user in ["alice", "dr_carol", "auditor"] {
        let session = login(&pool, user).await?;
        let (status, _) = get(&app, "/api/admin/messages/deleted", Some(&session), None).await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{user}");
    }
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn admins_and_auditors_have_empty_mailboxes_and_every_role_has_a_session(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    mixed_workload(&world).await?;
    catch_up_all(&pool).await?;
    let app = router(&pool, None, WAIT)?;
    for user in ["admin", "auditor"] {
        let session = login(&pool, user).await?;
        let inbox = ok(&app, "/api/messages/inbox", &session).await?;
        assert_eq!(inbox["conversations"], Value::Array(vec![]));
        assert_eq!(inbox["total_unread"], 0);
        assert_eq!(
            ok(&app, "/api/messages/sent", &session).await?["messages"],
            Value::Array(vec![])
        );
        let unread = ok(&app, "/api/messages/unread-count", &session).await?;
        assert_eq!(unread["unread"], 0);
    }
    for (user, role) in projector::world::USERS {
        let session = login(&pool, user).await?;
        let me = ok(&app, "/api/auth/me", &session).await?;
        assert_eq!(
            (me["username"].as_str(), me["role"].as_str()),
            (Some(*user), Some(role.as_str()))
        );
        assert!(ok(&app, "/api/csrf-token", &session).await?["csrf_token"].is_string());
    }
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn unread_counts_follow_reads_and_the_recipients_deletes(pool: PgPool) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let a = world.send("alice", "bob", None, "one").await?;
    let b = world.send("alice", "bob", None, "two").await?;
    world.send("eve", "bob", None, "three").await?;
    let app = router(&pool, None, WAIT)?;
    let bob = login(&pool, "bob").await?;
    catch_up_all(&pool).await?;
    assert_eq!(
        ok(&app, "/api/messages/unread-count", &bob).await?["unread"],
        3
    );
    world.read("bob", a).await?;
    world.delete("bob", b).await?;
    catch_up_all(&pool).await?;
    assert_eq!(
        ok(&app, "/api/messages/unread-count", &bob).await?["unread"],
        1
    );
    let inbox = ok(&app, "/api/messages/inbox", &bob).await?;
    assert_eq!(inbox["total_unread"], 1);
    let alice_entry = inbox["conversations"]
        .as_array()
        .and_then(|c| c.iter().find(|e| e["with"] == "alice"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(alice_entry["unread_count"], 0);
    assert_eq!(alice_entry["last_message"]["message_id"], a.to_string());
    let alice = login(&pool, "alice").await?;
    let sent = ok(&app, "/api/messages/sent", &alice).await?;
    let read = sent["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["message_id"] == a.to_string()))
        .cloned()
        .unwrap_or_default();
    assert_eq!(read["is_read"], true);
    assert!(read["read_at"].is_string());
    Ok(())
}
