//! The access logger against a real database: entries are written in batches within a second
//! without the caller waiting, a full buffer refuses (or, when told to serve, drops and
//! counts) instead of blocking, a batch the database refuses is retried until written in
//! order, a last flush happens when the loggers are dropped, and the table refuses changes.

use std::time::{Duration, Instant};

use audit::access::{AccessEntry, AccessLogger, OnFailure, Unrecorded, DEFAULT_CAPACITY};
use chrono::Utc;
use sqlx::postgres::PgPoolOptions;
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
        subjects: Vec::new(),
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
        logger.record(entry(n), OnFailure::Refuse)?;
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
async fn a_full_buffer_refuses_or_drops_as_told_and_dropping_the_loggers_flushes_the_rest(
    pool: PgPool,
) -> Result<()> {
    // The test runtime has one thread: the writer cannot run until this test yields, so the
    // buffer of two fills up.
    let (logger, writer) = AccessLogger::spawn(pool.clone(), 2);
    let refused: Vec<_> = (0..4)
        .map(|n| logger.record(entry(n), OnFailure::Refuse))
        .collect();
    assert_eq!(refused, [Ok(()), Ok(()), Err(Unrecorded), Err(Unrecorded)]);
    assert_eq!(logger.record(entry(4), OnFailure::Serve), Ok(()));
    assert_eq!(logger.buffered(), 2);
    drop(logger);
    tokio::time::timeout(Duration::from_secs(5), writer).await??;
    let actors: Vec<String> = sqlx::query_scalar("SELECT actor FROM access_log ORDER BY id")
        .fetch_all(&pool)
        .await?;
    assert_eq!(actors, ["reader0", "reader1"]);
    Ok(())
}

async fn actors(pool: &PgPool) -> Result<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT actor FROM access_log ORDER BY id")
            .fetch_all(pool)
            .await?,
    )
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn entries_refused_by_a_read_only_database_are_written_in_order_once_it_is_writable(
    pool: PgPool,
) -> Result<()> {
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await?;
    let switch = |setting: &str| format!("ALTER DATABASE \"{database}\" {setting}");
    // Opened before the switch, so it can switch back.
    let mut operator = pool.acquire().await?;
    sqlx::query(&switch("SET default_transaction_read_only = on"))
        .execute(&mut *operator)
        .await?;
    // The writer's connections are opened after the switch, as after a fail-over.
    let writes = PgPoolOptions::new()
        .max_connections(2)
        .connect_lazy_with((*pool.connect_options()).clone());
    let (logger, writer) = AccessLogger::spawn(writes, 4);
    for n in 0..4 {
        logger.record(entry(n), OnFailure::Refuse)?;
    }
    // Longer than the old logger kept retrying before it dropped a batch (about 6 s).
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(rows(&pool).await?, 0);
    assert_eq!(logger.buffered(), 4);
    assert_eq!(
        logger.record(entry(4), OnFailure::Refuse),
        Err(Unrecorded),
        "a full buffer refuses"
    );
    sqlx::query(&switch("RESET default_transaction_read_only"))
        .execute(&mut *operator)
        .await?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while rows(&pool).await? < 4 {
        assert!(Instant::now() < deadline, "not written after the outage");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        actors(&pool).await?,
        ["reader0", "reader1", "reader2", "reader3"]
    );
    assert_eq!(logger.buffered(), 0);
    logger.record(entry(5), OnFailure::Refuse)?;
    drop(logger);
    tokio::time::timeout(Duration::from_secs(5), writer).await??;
    assert_eq!(rows(&pool).await?, 5);
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_access_log_is_append_only(pool: PgPool) -> Result<()> {
    audit::access::insert(&mut *pool.acquire().await?, &[entry(1)]).await?;
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
