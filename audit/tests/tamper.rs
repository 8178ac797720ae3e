//! `audit::verify` on a real log: clean, then after each kind of tampering an attacker with the
//! table owner's rights could do by SQL (disabling the append-only trigger first), it names the
//! position of the event that was changed, deleted or whose audit row was altered.

mod support;

use audit::verify::{head, verify, Problem};
use projections::Projection;
use sqlx::PgPool;
use support::{catch_up, positions, small_history, Commands, Result};

/// A projected history; the positions of its events in log order.
async fn history(pool: &PgPool) -> Result<Vec<i64>> {
    let commands = Commands::new(pool.clone()).await?;
    small_history(&commands).await?;
    catch_up(pool, Projection::AuditLog).await?;
    let clean = verify(pool, None, |_| {}).await?;
    assert_eq!(clean.problem, None, "the log is clean before tampering");
    let positions = positions(pool).await?;
    assert_eq!(clean.entries_checked, positions.len() as u64);
    Ok(positions)
}

/// Runs `sql` (bound to `position`) as the owner would: with the append-only trigger off.
async fn tamper(pool: &PgPool, sql: &str, position: i64) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("ALTER TABLE events DISABLE TRIGGER events_append_only")
        .execute(&mut *tx)
        .await?;
    let changed = sqlx::query(sql).bind(position).execute(&mut *tx).await?;
    anyhow::ensure!(changed.rows_affected() == 1, "{sql} changed nothing");
    sqlx::query("ALTER TABLE events ENABLE TRIGGER events_append_only")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_clean_log_verifies_and_its_head_is_the_last_entry(pool: PgPool) -> Result<()> {
    let positions = history(&pool).await?;
    let report = verify(&pool, None, |_| {}).await?;
    let last = positions.last().copied();
    assert_eq!(report.head.map(|(position, _)| position), last);
    let (seq, position, hash) = head(&pool).await?.ok_or_else(|| anyhow::anyhow!("empty"))?;
    assert_eq!((seq, Some(position)), (positions.len() as i64, last));
    let anchored = verify(&pool, Some((position, hash)), |_| {}).await?;
    assert_eq!(anchored.problem, None);
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_append_only_trigger_refuses_changes_to_the_event_log(pool: PgPool) -> Result<()> {
    let positions = history(&pool).await?;
    for sql in [
        "UPDATE events SET payload = '{}' WHERE global_position = $1",
        "DELETE FROM events WHERE global_position = $1",
    ] {
        let refused = sqlx::query(sql).bind(positions[0]).execute(&pool).await;
        assert!(refused.is_err(), "{sql} was allowed");
    }
    assert!(sqlx::query("TRUNCATE events").execute(&pool).await.is_err());
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn an_edited_event_payload_is_found_at_its_position(pool: PgPool) -> Result<()> {
    let positions = history(&pool).await?;
    let target = positions[2];
    tamper(
        &pool,
        "UPDATE events
         SET payload = jsonb_set(payload, '{MessageSent,content}', '\"edited\"')
         WHERE global_position = $1",
        target,
    )
    .await?;
    let report = verify(&pool, None, |_| {}).await?;
    assert_eq!(
        report.problem,
        Some(Problem::EventChanged { position: target })
    );
    assert_eq!(report.entries_checked, 2, "the entries before it are fine");
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn an_edited_event_metadata_is_found_at_its_position(pool: PgPool) -> Result<()> {
    let positions = history(&pool).await?;
    let target = positions[4];
    tamper(
        &pool,
        "UPDATE events SET metadata = jsonb_set(metadata, '{actor}', '\"mallory\"')
         WHERE global_position = $1",
        target,
    )
    .await?;
    let report = verify(&pool, None, |_| {}).await?;
    assert_eq!(report.problem.as_ref().map(Problem::position), Some(target));
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_deleted_event_row_is_found_at_its_position(pool: PgPool) -> Result<()> {
    let positions = history(&pool).await?;
    let target = positions[3];
    tamper(
        &pool,
        "DELETE FROM events WHERE global_position = $1",
        target,
    )
    .await?;
    let report = verify(&pool, None, |_| {}).await?;
    assert_eq!(
        report.problem,
        Some(Problem::EventMissing { position: target })
    );
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn an_altered_audit_row_is_found_at_its_position_with_the_column(pool: PgPool) -> Result<()> {
    let positions = history(&pool).await?;
    let target = positions[5];
    let original: serde_json::Value =
        sqlx::query_scalar("SELECT to_jsonb(a) FROM audit_log a WHERE position = $1")
            .bind(target)
            .fetch_one(&pool)
            .await?;
    for (column, edit) in [
        ("actor", "actor = 'mallory'"),
        ("action", "action = 'message_read'"),
        ("message_id", "message_id = gen_random_uuid()"),
        (
            "occurred_at",
            "occurred_at = occurred_at - interval '1 day'",
        ),
        ("counterpart", "counterpart = 'nobody'"),
        ("participants", "participants = ARRAY['bob']"),
        ("request_id", "request_id = 'forged'"),
        ("client_ip", "client_ip = '10.6.6.6'"),
        ("user_agent", "user_agent = NULL"),
        (
            "details",
            "details = details || '{\"channel\": \"clinician\"}'",
        ),
    ] {
        sqlx::query(&format!("UPDATE audit_log SET {edit} WHERE position = $1"))
            .bind(target)
            .execute(&pool)
            .await?;
        let report = verify(&pool, None, |_| {}).await?;
        assert_eq!(
            report.problem,
            Some(Problem::EntryAltered {
                position: target,
                column
            }),
            "{edit}"
        );
        // Put the row back as it was for the next case.
        sqlx::query("DELETE FROM audit_log WHERE position = $1")
            .bind(target)
            .execute(&pool)
            .await?;
        sqlx::query(
            "INSERT INTO audit_log SELECT * FROM jsonb_populate_record(NULL::audit_log, $1)",
        )
        .bind(&original)
        .execute(&pool)
        .await?;
        assert_eq!(verify(&pool, None, |_| {}).await?.problem, None);
    }
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn an_altered_audit_hash_or_a_deleted_audit_row_is_found_at_its_position(
    pool: PgPool,
) -> Result<()> {
    let positions = history(&pool).await?;
    let altered = positions[1];
    sqlx::query("UPDATE audit_log SET hash = sha256(hash) WHERE position = $1")
        .bind(altered)
        .execute(&pool)
        .await?;
    let report = verify(&pool, None, |_| {}).await?;
    assert_eq!(
        report.problem.as_ref().map(Problem::position),
        Some(altered)
    );
    let removed = positions[0];
    sqlx::query("DELETE FROM audit_log WHERE position = $1")
        .bind(removed)
        .execute(&pool)
        .await?;
    let report = verify(&pool, None, |_| {}).await?;
    assert_eq!(
        report.problem,
        Some(Problem::EntryMissing { position: removed })
    );
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_chain_recomputed_after_tampering_is_caught_by_an_anchor_taken_before(
    pool: PgPool,
) -> Result<()> {
    let positions = history(&pool).await?;
    let (_, anchor_position, anchor_hash) =
        head(&pool).await?.ok_or_else(|| anyhow::anyhow!("empty"))?;
    tamper(
        &pool,
        "UPDATE events SET metadata = jsonb_set(metadata, '{client_ip}', '\"10.9.9.9\"')
         WHERE global_position = $1",
        positions[1],
    )
    .await?;
    // The attacker replays the tampered log into a fresh, self-consistent chain.
    projections::operator::rebuild(&pool, Projection::AuditLog, 50, &|_| {}).await?;
    let alone = verify(&pool, None, |_| {}).await?;
    assert_eq!(
        alone.problem, None,
        "a recomputed chain is consistent in itself"
    );
    let anchored = verify(&pool, Some((anchor_position, anchor_hash)), |_| {}).await?;
    assert_eq!(
        anchored.problem,
        Some(Problem::AnchorMismatch {
            position: anchor_position
        })
    );
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn verify_reports_nothing_while_the_projector_is_appending(pool: PgPool) -> Result<()> {
    use sqlx::Connection;

    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         SELECT 'message', gen_random_uuid()::text, 1, 'MessageSent', '1.0',
                '{\"MessageSent\": {\"sender\": \"alice\", \"recipient\": \"bob\"}}',
                jsonb_build_object('actor', 'alice', 'request_id', 'bulk-' || i)
         FROM generate_series(1, 400) i",
    )
    .execute(&pool)
    .await?;
    let projector = {
        let pool = pool.clone();
        tokio::spawn(async move {
            // One event per batch, until all 400 are applied (other tests' transactions may
            // hold the horizon back for a moment).
            let mut conn = sqlx::PgConnection::connect_with(&pool.connect_options()).await?;
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                let outcome =
                    projections::apply_next_batch(&mut conn, Projection::AuditLog, 1).await?;
                if outcome.events_applied == 400 {
                    return anyhow::Ok(());
                }
                anyhow::ensure!(tokio::time::Instant::now() < deadline, "never caught up");
                if outcome.applied == 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        })
    };
    let mut runs = 0;
    while !projector.is_finished() {
        let report = verify(&pool, None, |_| {}).await?;
        assert_eq!(
            report.problem, None,
            "after {} entries",
            report.entries_checked
        );
        runs += 1;
    }
    projector.await??;
    let report = verify(&pool, None, |_| {}).await?;
    assert_eq!((report.problem, report.entries_checked), (None, 400));
    assert!(runs > 0);
    Ok(())
}
