//! Helpers of the tests that watch account changes reach the caches (also used by
//! `http-edge/tests/session_cache.rs`).

#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use sqlx::PgPool;

pub type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Polls `check` until it holds, for at most two seconds.
pub async fn eventually<F, Fut>(what: &str, check: F) -> Result
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while !check().await? {
        if tokio::time::Instant::now() > deadline {
            return Err(format!("not within 2 s: {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Runs `statement` with the table's announcing trigger off: a change nobody hears of.
pub async fn silently(pool: &PgPool, table: &str, trigger: &str, statement: &str) -> Result {
    let mut tx = pool.begin().await?;
    sqlx::query(&format!("ALTER TABLE {table} DISABLE TRIGGER {trigger}"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(statement).execute(&mut *tx).await?;
    sqlx::query(&format!("ALTER TABLE {table} ENABLE TRIGGER {trigger}"))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
