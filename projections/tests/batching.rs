//! The set-based fold does not depend on where batches begin and end: a log applied one event
//! per batch (the old per-event granularity) and replayed in one batch, or in batches of 2 and 3,
//! yields identical tables. The workload puts every event of a message's life into the log,
//! often several of the same message in one batch: send, read, both deletes, the hide, a
//! restore, a read after the restore, deletes again.

mod common;

use common::world::mixed_workload;
use common::{connect, Result, World};
use projections::operator::{rebuild, verify};
use projections::{apply_next_batch, Projection};
use sqlx::PgPool;
use uuid::Uuid;

/// A deterministic stream of choices (no dependency on a random crate for a test).
struct Choices(u64);

impl Choices {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// Every kind of event, many times over, on a few messages between three pairs of users.
async fn lifecycles(world: &World) -> Result<()> {
    let pairs = [("alice", "bob"), ("bob", "eve"), ("eve", "alice")];
    let mut messages: Vec<(Uuid, &str, &str)> = Vec::new();
    let mut choices = Choices(7);
    for step in 0..300 {
        let op = if messages.is_empty() {
            0
        } else {
            choices.next(6)
        };
        // Refused commands (a second read, a restore of a visible message) record nothing and
        // are part of the workload.
        match op {
            0 => {
                let (from, to) = pairs[choices.next(pairs.len())];
                let id = world
                    .send(from, to, Some("Step"), &format!("step {step}"))
                    .await?;
                messages.push((id, from, to));
            }
            _ => {
                let (id, from, to) = messages[choices.next(messages.len())];
                let _ = match op {
                    1 => world.read(to, id).await,
                    2 => world.delete(from, id).await,
                    3 => world.delete(to, id).await,
                    4 => world.restore("admin", id).await,
                    _ => world
                        .reply(to, id, &format!("reply {step}"))
                        .await
                        .map(|_| ()),
                };
            }
        }
    }
    Ok(())
}

async fn apply_one_event_per_batch(pool: &PgPool) -> Result<()> {
    let mut conn = connect(pool).await?;
    for projection in Projection::ALL {
        while apply_next_batch(&mut conn, projection, 1).await?.applied > 0 {}
    }
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn replay_in_any_batch_size_matches_a_log_applied_event_by_event(pool: PgPool) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    mixed_workload(&world).await?;
    lifecycles(&world).await?;
    apply_one_event_per_batch(&pool).await?;
    let events = world.event_count().await?;
    assert!(events > 150, "a real workload ({events} events)");
    // The notification feed is compared too, and holds every kind.
    let kinds: Vec<(String, i64)> =
        sqlx::query_as("SELECT kind, count(*) FROM notifications GROUP BY kind ORDER BY kind")
            .fetch_all(&pool)
            .await?;
    assert!(
        kinds.len() == 3 && kinds.iter().all(|(_, n)| *n > 5),
        "{kinds:?}"
    );
    for projection in Projection::ALL {
        for batch_size in [10_000, 3, 2] {
            let report = verify(&pool, projection, batch_size, &|_| {}).await?;
            assert!(
                report.is_clean(),
                "{projection} replayed in batches of {batch_size}: {report:?}"
            );
        }
    }
    // And the other way round: tables rebuilt in one batch, then the live projector goes on
    // one event at a time, still equal to a replay.
    for projection in Projection::ALL {
        rebuild(&pool, projection, 10_000, &|_| {}).await?;
    }
    lifecycles(&world).await?;
    apply_one_event_per_batch(&pool).await?;
    for projection in Projection::ALL {
        let report = verify(&pool, projection, 10_000, &|_| {}).await?;
        assert!(report.is_clean(), "{projection} after rebuild: {report:?}");
    }
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_whole_life_in_one_batch_ends_where_one_event_at_a_time_does(pool: PgPool) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let older = world.send("alice", "bob", None, "older").await?;
    let newest = world.send("alice", "bob", None, "newest").await?;
    world.read("bob", newest).await?;
    world.delete("alice", newest).await?;
    world.delete("bob", newest).await?;
    world.restore("admin", newest).await?;
    world.delete("bob", newest).await?;
    world.delete("bob", older).await?;
    // Everything above lands in one batch.
    let mut conn = connect(&pool).await?;
    for projection in Projection::ALL {
        apply_next_batch(&mut conn, projection, 100).await?;
    }
    let summaries: Vec<(String, Uuid, i32)> = sqlx::query_as(
        "SELECT owner, last_message_id, unread_count FROM conversations ORDER BY owner",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(
        summaries,
        [("alice".to_owned(), newest, 0)],
        "bob deleted both: his conversation is gone; alice sees the restored newest"
    );
    let counters: Vec<(String, i32)> =
        sqlx::query_as("SELECT owner, unread FROM unread_counters ORDER BY owner")
            .fetch_all(&pool)
            .await?;
    assert_eq!(counters, [("bob".to_owned(), 0)]);
    let message: (bool, bool, bool, bool) = sqlx::query_as(
        "SELECT is_read, is_deleted_by_sender, is_deleted_by_recipient, deleted_at IS NULL
         FROM messages WHERE id = $1",
    )
    .bind(newest)
    .fetch_one(&pool)
    .await?;
    assert_eq!(message, (true, false, true, true));
    for projection in Projection::ALL {
        let report = verify(&pool, projection, 1, &|_| {}).await?;
        assert!(report.is_clean(), "{projection}: {report:?}");
    }
    Ok(())
}
