//! Helpers of the projections tests.

#![allow(dead_code)]

pub mod world;

use std::time::Duration;

use projections::{apply_next_batch, Projection, ProjectorSettings};
use sqlx::{Connection, PgConnection, PgPool};

pub use world::{Result, World};

/// A fresh connection to the test database.
pub async fn connect(pool: &PgPool) -> Result<PgConnection> {
    Ok(PgConnection::connect_with(&pool.connect_options()).await?)
}

/// Applies batches of `projection` until none is final yet; returns the events applied.
pub async fn apply_available(pool: &PgPool, projection: Projection) -> Result<usize> {
    let mut conn = connect(pool).await?;
    let mut total = 0;
    loop {
        let outcome = apply_next_batch(&mut conn, projection, 100).await?;
        total += outcome.applied;
        if outcome.applied == 0 {
            conn.close().await?;
            return Ok(total);
        }
    }
}

/// Applies batches of `projection` until it has applied every event in the log (waiting out
/// other tests' short transactions); returns the events applied.
pub async fn catch_up(pool: &PgPool, projection: Projection) -> Result<usize> {
    let mut total = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        total += apply_available(pool, projection).await?;
        let behind: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM events e, projection_checkpoints c
                            WHERE c.projection = $1
                              AND (e.transaction_id, e.global_position)
                                  > (c.transaction_id, c.global_position))",
        )
        .bind(projection.name())
        .fetch_one(pool)
        .await?;
        if !behind {
            return Ok(total);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{projection} never caught up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Catches up every projection.
pub async fn catch_up_all(pool: &PgPool) -> Result<()> {
    for projection in Projection::ALL {
        catch_up(pool, projection).await?;
    }
    Ok(())
}

/// Settings for quick tests: small batches, short waits.
pub fn quick_settings() -> ProjectorSettings {
    ProjectorSettings {
        batch_size: 5,
        replay_batch_size: 7,
        settle: Duration::ZERO,
        poll_interval: Duration::from_millis(100),
        standby_retry: Duration::from_millis(100),
        max_backoff: Duration::from_millis(300),
    }
}

/// The stored checkpoint: (events_applied, global position).
pub async fn checkpoint(pool: &PgPool, projection: Projection) -> Result<(i64, i64)> {
    Ok(sqlx::query_as(
        "SELECT events_applied, global_position FROM projection_checkpoints WHERE projection = $1",
    )
    .bind(projection.name())
    .fetch_one(pool)
    .await?)
}

/// Polls `check` every 20 ms until it holds or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> Result<bool>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await? {
            return Ok(true);
        }
        if tokio::time::Instant::now() > deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Inserts an event the way postgres-es does, on `conn` (whose transaction the caller controls).
pub async fn append_raw(
    conn: &mut PgConnection,
    aggregate_id: &str,
    sequence: i64,
    event: &events::MessageEvent,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         VALUES ('message', $1, $2, $3, '1.0', $4, '{}') RETURNING global_position",
    )
    .bind(aggregate_id)
    .bind(sequence)
    .bind(event.name())
    .bind(serde_json::to_value(event)?)
    .fetch_one(&mut *conn)
    .await?)
}

/// A `MessageSent` event between two existing users.
pub fn sent_event(from: &str, to: &str, content: &str) -> events::MessageEvent {
    events::MessageEvent::MessageSent {
        message_id: uuid::Uuid::new_v4(),
        sender: from.into(),
        sender_role: events::Role::Patient,
        recipient: to.into(),
        recipient_role: events::Role::Patient,
        subject: None,
        content: content.into(),
        parent_message_id: None,
        channel: events::Channel::Direct,
        sent_at: chrono::Utc::now(),
    }
}
