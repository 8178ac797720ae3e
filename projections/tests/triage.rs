//! The clinicians' triage kept by the mailbox fold: when a patient began to wait and which
//! clinician message ended each wait, whatever the batch size; and the migration's SQL backfill
//! of the history, which must find exactly what the fold finds.

mod common;

use chrono::{DateTime, Utc};
use common::{catch_up_all, Result, World};
use projections::operator::verify;
use projections::Projection;
use sqlx::PgPool;
use uuid::Uuid;

/// The migration that made the triage's tables; its backfill follows `BACKFILL_AFTER`.
const MIGRATION: &str = include_str!("../../migrations/sql/20261202400003_triage.sql");
const BACKFILL_AFTER: &str = "SELECT create_triage_tables('public');";

type Wait = (String, String, Option<DateTime<Utc>>);
type Reply = (String, String, Uuid, DateTime<Utc>, DateTime<Utc>);

async fn waits(pool: &PgPool) -> Result<Vec<Wait>> {
    Ok(
        sqlx::query_as("SELECT clinician, patient, waiting_since FROM triage_waits ORDER BY 1, 2")
            .fetch_all(pool)
            .await?,
    )
}

async fn replies(pool: &PgPool) -> Result<Vec<Reply>> {
    Ok(sqlx::query_as(
        "SELECT clinician, patient, message_id, waited_since, replied_at FROM triage_replies
         ORDER BY replied_at",
    )
    .fetch_all(pool)
    .await?)
}

async fn sent_at(pool: &PgPool, id: Uuid) -> Result<DateTime<Utc>> {
    Ok(
        sqlx::query_scalar("SELECT sent_at FROM mailbox WHERE message_id = $1 LIMIT 1")
            .bind(id)
            .fetch_one(pool)
            .await?,
    )
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_wait_begins_with_the_patients_first_message_and_ends_with_the_clinicians_next(
    pool: PgPool,
) -> Result<()> {
    // alice is dr_carol's patient; bob, eve and dr_dave are there to be ignored.
    let world = World::new(pool.clone()).await?;
    let hello = world
        .clinician_send("dr_carol", "alice", "How are you?")
        .await?;
    let first = world.reply("alice", hello, "Not great").await?;
    world.reply("alice", hello, "Still not great").await?;
    world.send("bob", "alice", None, "Patients talking").await?;
    world
        .send("dr_carol", "dr_dave", Some("Case"), "Colleagues talking")
        .await?;
    let answer = world.reply("dr_carol", first, "Call me").await?;
    world.read("alice", answer).await?;
    let again = world.reply("alice", answer, "Thanks").await?;
    world.delete("alice", answer).await?;
    catch_up_all(&pool).await?;

    let (first_at, answer_at, again_at) = (
        sent_at(&pool, first).await?,
        sent_at(&pool, answer).await?,
        sent_at(&pool, again).await?,
    );
    assert_eq!(
        waits(&pool).await?,
        [("dr_carol".into(), "alice".into(), Some(again_at))],
        "waiting since the message after the answer; the answer's delete changes nothing"
    );
    assert_eq!(
        replies(&pool).await?,
        [(
            "dr_carol".into(),
            "alice".into(),
            answer,
            first_at,
            answer_at
        )],
        "the wait began with the first of the two messages"
    );
    for batch_size in [1, 2, 10_000] {
        let report = verify(&pool, Projection::Mailbox, batch_size, &|_| {}).await?;
        assert!(report.is_clean(), "batches of {batch_size}: {report:?}");
    }

    // The migration's backfill (what an upgraded database starts from) finds the same rows.
    let (live_waits, live_replies) = (waits(&pool).await?, replies(&pool).await?);
    let backfill = MIGRATION
        .split_once(BACKFILL_AFTER)
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow::anyhow!("no backfill after {BACKFILL_AFTER}"))?;
    sqlx::raw_sql("TRUNCATE triage_waits, triage_replies")
        .execute(&pool)
        .await?;
    sqlx::raw_sql(backfill).execute(&pool).await?;
    assert_eq!(waits(&pool).await?, live_waits);
    assert_eq!(replies(&pool).await?, live_replies);
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_clinician_message_with_nobody_waiting_ends_nothing(pool: PgPool) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let hello = world.clinician_send("dr_carol", "alice", "Hello").await?;
    world
        .clinician_send("dr_carol", "alice", "Hello again")
        .await?;
    catch_up_all(&pool).await?;
    assert_eq!(
        waits(&pool).await?,
        [("dr_carol".into(), "alice".into(), None)]
    );
    assert_eq!(replies(&pool).await?, []);
    let answer = world.reply("alice", hello, "Hi").await?;
    catch_up_all(&pool).await?;
    let answer_at = sent_at(&pool, answer).await?;
    assert_eq!(
        waits(&pool).await?,
        [("dr_carol".into(), "alice".into(), Some(answer_at))]
    );
    let report = verify(&pool, Projection::Mailbox, 1, &|_| {}).await?;
    assert!(report.is_clean(), "{report:?}");
    Ok(())
}
