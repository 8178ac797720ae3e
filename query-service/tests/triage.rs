//! `GET /api/clinician/triage`: a clinician's approved patients, the longest-waiting first.

#[path = "../../projections/tests/common/mod.rs"]
mod projector;
mod support;

use std::time::Duration;

use accounts::{set_approval, ApprovalStatus};
use axum::http::StatusCode;
use events::Role;
use projector::{catch_up_all, World};
use serde_json::Value;
use sqlx::PgPool;
use support::{get, login, ok, router, strings, Result};

const WAIT: Duration = Duration::from_secs(5);

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_longest_waiting_patient_comes_first_with_unread_counts_and_reply_times(
    pool: PgPool,
) -> Result<()> {
    // dr_carol has alice (from the world), bob and frank; eve is not hers.
    let world = World::new(pool.clone()).await?;
    world.user("frank", Role::Patient).await?;
    for patient in ["bob", "frank"] {
        set_approval(&pool, "dr_carol", patient, ApprovalStatus::Approved).await?;
    }
    let to_alice = world
        .clinician_send("dr_carol", "alice", "How are you?")
        .await?;
    let to_bob = world
        .clinician_send("dr_carol", "bob", "How are you?")
        .await?;
    // alice waits, then gets an answer, then waits again; bob waits since after alice's first.
    let alice_1 = world.reply("alice", to_alice, "Not great").await?;
    world.reply("bob", to_bob, "Fine").await?;
    let answer = world.reply("dr_carol", alice_1, "Call me").await?;
    world.reply("alice", answer, "Thanks").await?;
    world.reply("alice", answer, "And one more thing").await?;
    world.clinician_send("dr_carol", "frank", "Welcome").await?;
    catch_up_all(&pool).await?;
    let app = router(&pool, None, WAIT)?;
    let carol = login(&pool, "dr_carol").await?;

    let body = ok(&app, "/api/clinician/triage", &carol).await?;
    let patients = &body["patients"];
    assert_eq!(
        strings(patients, "username"),
        ["bob", "alice", "frank"],
        "bob has waited longest, then alice; frank waits for nothing: {body}"
    );
    assert_eq!(patients[0]["unread_from_patient"], 1);
    assert_eq!(patients[1]["unread_from_patient"], 3, "{body}");
    assert_eq!(patients[2]["unread_from_patient"], 0);
    assert_eq!(patients[1]["display_name"], "alice (display)");
    for waiting in [&patients[0], &patients[1]] {
        assert!(waiting["waiting_since"].is_string(), "{body}");
        assert!(waiting["last_message_at"].is_string(), "{body}");
    }
    assert_eq!(patients[2]["waiting_since"], Value::Null);
    // Only alice got an answer: a median over one reply of a test's few milliseconds.
    let median = patients[1]["median_reply_minutes"].as_f64().unwrap_or(-1.0);
    assert!((0.0..1.0).contains(&median), "{body}");
    assert_eq!(patients[0]["median_reply_minutes"], Value::Null);
    assert_eq!(patients[2]["median_reply_minutes"], Value::Null);

    // The answer ends bob's wait: alice is now first, then the latest activity (bob).
    world
        .clinician_send("dr_carol", "bob", "Good to hear")
        .await?;
    catch_up_all(&pool).await?;
    let body = ok(&app, "/api/clinician/triage", &carol).await?;
    assert_eq!(
        strings(&body["patients"], "username"),
        ["alice", "bob", "frank"],
        "{body}"
    );
    assert_eq!(body["patients"][1]["waiting_since"], Value::Null);
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn only_clinicians_have_a_triage(pool: PgPool) -> Result<()> {
    World::new(pool.clone()).await?;
    let app = router(&pool, None, WAIT)?;
    for user in ["alice", "admin", "auditor"] {
        let cookie = login(&pool, user).await?;
        let (status, body) = get(&app, "/api/clinician/triage", Some(&cookie), None).await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{user}: {body}");
        assert_eq!(body["error"]["code"], "forbidden", "{user}");
    }
    let dave = login(&pool, "dr_dave").await?;
    let body = ok(&app, "/api/clinician/triage", &dave).await?;
    assert_eq!(body["patients"], serde_json::json!([]));
    Ok(())
}
