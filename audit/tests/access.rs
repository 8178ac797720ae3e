//! The access logger against a real database: entries are written in batches within a second
//! without the caller waiting, a full buffer drops entries instead of blocking, a last flush
//! happens when the loggers are dropped, and the table refuses changes.

use std::time::{Duration, Instant};

use audit::access::{AccessEntry, AccessLogger, DEFAULT_CAPACITY};
use chrono::Utc;
use sqlx::PgPool;

type Result<T> = anyhow::Result<T>;

fn entry(n: usize) -> AccessEntry {
    AccessEntry {
        occurred_at: Utc::now(),
        actor: format!("reader{n}"),
        role: "patient".into(),
        action: "search",
        counterpart: None,
        message_ids: vec![uuid::Uuid::new_v4()],
        query_length: Some(12),
        result_count: 1,
        request_id: Some(format!("req-{n}")),
        client_ip: Some("192.0.2.1".into()),
        user_agent: None,
    }
}

async fn rows(pool: &PgPool) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM access_log")
        .fetch_one(pool)
        .await?)
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn recorded_entries_are_durable_within_a_second(pool: PgPool) -> Result<()> {
    let (logger, writer) = AccessLogger::spawn(pool.clone(), DEFAULT_CAPACITY);
    let started = Instant::now();
    for n in 0..3 {
        logger.record(entry(n));
    }
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "record never waits"
    );
    while rows(&pool).await? < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "not written in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (actor, ids, length): (String, Vec<uuid::Uuid>, Option<i32>) = sqlx::query_as(
        "SELECT actor, message_ids, query_length FROM access_log ORDER BY id LIMIT 1",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(
        (actor.as_str(), ids.len(), length),
        ("reader0", 1, Some(12))
    );
    drop(logger);
    tokio::time::timeout(Duration::from_secs(5), writer).await??;
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_full_buffer_drops_entries_and_dropping_the_loggers_flushes_the_rest(
    pool: PgPool,
) -> Result<()> {
    // The test runtime has one thread: the writer cannot run until this test yields, so the
    // buffer of two fills up.
    let (logger, writer) = AccessLogger::spawn(pool.clone(), 2);
    for n in 0..5 {
        logger.record(entry(n));
    }
    drop(logger);
    tokio::time::timeout(Duration::from_secs(5), writer).await??;
    assert_eq!(rows(&pool).await?, 2);
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_access_log_is_append_only(pool: PgPool) -> Result<()> {
    audit::access::insert(&pool, &[entry(1)]).await?;
    for sql in [
        "UPDATE access_log SET actor = 'mallory'",
        "DELETE FROM access_log",
        "TRUNCATE access_log",
    ] {
        assert!(sqlx::query(sql).execute(&pool).await.is_err(), "{sql}");
    }
    assert_eq!(rows(&pool).await?, 1);
    Ok(())
}
