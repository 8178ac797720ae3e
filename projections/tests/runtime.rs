//! The projector runtime: leadership, reconnects, wake-ups and progress publishing.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{checkpoint, eventually, quick_settings, Result, World};
use projections::{parse_progress, Projection, ProjectorRuntime, PROGRESS_CHANNEL};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

async fn all_applied(pool: &PgPool, world: &World) -> Result<bool> {
    let total = world.event_count().await?;
    for projection in Projection::ALL {
        if checkpoint(pool, projection).await?.0 != total {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn leading(stats: &projections::RuntimeStats) -> Result<bool> {
    eventually(Duration::from_secs(5), || async {
        Ok(Projection::ALL.iter().all(|p| stats.is_leader(*p)))
    })
    .await
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn two_projector_instances_never_both_apply(pool: PgPool) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let (first, second) = (
        ProjectorRuntime::new(pool.clone(), quick_settings()),
        ProjectorRuntime::new(pool.clone(), quick_settings()),
    );
    let (a, b) = (first.stats(), second.stats());
    let (stop_a, stop_b) = (CancellationToken::new(), CancellationToken::new());
    let task_a = first.spawn(stop_a.clone());
    let task_b = second.spawn(stop_b.clone());
    for n in 0..15 {
        world
            .send("alice", "bob", None, &format!("message {n}"))
            .await?;
        for p in Projection::ALL {
            assert!(!(a.is_leader(p) && b.is_leader(p)), "two leaders of {p}");
        }
    }
    assert!(eventually(Duration::from_secs(10), || all_applied(&pool, &world)).await?);
    let total = u64::try_from(world.event_count().await?)?;
    for p in Projection::ALL {
        let (applied_a, applied_b) = (a.events_applied(p), b.events_applied(p));
        assert_eq!(applied_a + applied_b, total, "{p}: each event applied once");
        assert!(
            applied_a == 0 || applied_b == 0,
            "{p}: only the leader applied"
        );
    }

    // The leader of the messages projection stops; the standby takes over and resumes.
    let (stop_leader, old_leader, new_leader) = if a.is_leader(Projection::Messages) {
        (stop_a.clone(), a.clone(), b.clone())
    } else {
        (stop_b.clone(), b.clone(), a.clone())
    };
    stop_leader.cancel();
    for n in 0..5 {
        world
            .send("bob", "alice", None, &format!("after the failover {n}"))
            .await?;
    }
    assert!(eventually(Duration::from_secs(10), || all_applied(&pool, &world)).await?);
    let total = u64::try_from(world.event_count().await?)?;
    let messages = Projection::Messages;
    assert!(new_leader.is_leader(messages) && !old_leader.is_leader(messages));
    assert_eq!(
        old_leader.events_applied(messages) + new_leader.events_applied(messages),
        total
    );
    stop_a.cancel();
    stop_b.cancel();
    task_a.await?;
    task_b.await?;
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_projector_reconnects_and_resumes_after_losing_its_connection(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let runtime = ProjectorRuntime::new(pool.clone(), quick_settings());
    let shutdown = CancellationToken::new();
    let task = runtime.spawn(shutdown.clone());
    world.send("alice", "bob", None, "before").await?;
    assert!(eventually(Duration::from_secs(5), || all_applied(&pool, &world)).await?);
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND application_name LIKE 'hs-projector %'",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(
        killed.len(),
        Projection::ALL.len(),
        "one leader connection per projection"
    );
    world.send("bob", "alice", None, "after").await?;
    let resumed = eventually(Duration::from_secs(10), || all_applied(&pool, &world)).await?;
    shutdown.cancel();
    task.await?;
    assert!(resumed);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM mailbox")
        .fetch_one(&pool)
        .await?;
    assert_eq!(rows, 4);
    Ok(())
}

/// Settings whose fallback poll is far too slow to explain a quick catch-up.
fn slow_poll() -> projections::ProjectorSettings {
    projections::ProjectorSettings {
        poll_interval: Duration::from_secs(600),
        ..quick_settings()
    }
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn an_in_process_notify_wakes_the_projector_without_waiting_for_the_poll(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let notify = Arc::new(Notify::new());
    let runtime = ProjectorRuntime::new(pool.clone(), slow_poll()).with_wakeup(notify.clone());
    let stats = runtime.stats();
    let shutdown = CancellationToken::new();
    let task = runtime.spawn(shutdown.clone());
    assert!(leading(&stats).await?);
    tokio::time::sleep(Duration::from_millis(200)).await;
    world.send("alice", "bob", None, "wake up").await?;
    notify.notify_one();
    let woke = eventually(Duration::from_secs(5), || all_applied(&pool, &world)).await?;
    shutdown.cancel();
    task.await?;
    assert!(woke);
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_notify_on_hs_events_wakes_a_projector_in_another_process(pool: PgPool) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let runtime = ProjectorRuntime::new(pool.clone(), slow_poll());
    let stats = runtime.stats();
    let shutdown = CancellationToken::new();
    let task = runtime.spawn(shutdown.clone());
    let listening = eventually(Duration::from_secs(5), || async {
        let listeners: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND query LIKE 'LISTEN%hs_events%'",
        )
        .fetch_one(&pool)
        .await?;
        Ok(listeners == 1 && Projection::ALL.iter().all(|p| stats.is_leader(*p)))
    })
    .await?;
    assert!(listening);
    tokio::time::sleep(Duration::from_millis(200)).await;
    world.send("alice", "bob", None, "wake up").await?;
    sqlx::query("NOTIFY hs_events").execute(&pool).await?;
    let woke = eventually(Duration::from_secs(5), || all_applied(&pool, &world)).await?;
    shutdown.cancel();
    task.await?;
    assert!(woke);
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn each_committed_batch_is_published_on_the_watch_and_with_notify(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(PROGRESS_CHANNEL).await?;
    let runtime = ProjectorRuntime::new(pool.clone(), quick_settings());
    let mut progress = runtime.progress();
    let shutdown = CancellationToken::new();
    let task = runtime.spawn(shutdown.clone());
    let id = world.send("alice", "bob", None, "hello").await?;
    let token = world.token_of(id).await?;
    // The watch's `Ref` is a read lock: drop it at once, or the projector (on this same
    // thread) blocks publishing its next checkpoint.
    let reached = tokio::time::timeout(
        Duration::from_secs(5),
        progress.wait_for(|c| c.reached(&["messages", "mailbox"], token)),
    )
    .await
    .map(|seen| seen.map(drop));
    assert!(matches!(reached, Ok(Ok(()))), "the watch reaches the token");
    let mut announced = std::collections::BTreeSet::new();
    while announced.len() < 2 {
        let note = tokio::time::timeout(Duration::from_secs(5), listener.recv()).await??;
        if let Some((name, position)) = parse_progress(note.payload()) {
            if position >= token && ["mailbox", "messages"].contains(&name) {
                announced.insert(name.to_owned());
            }
        }
    }
    assert_eq!(
        announced.into_iter().collect::<Vec<_>>(),
        ["mailbox", "messages"]
    );
    shutdown.cancel();
    task.await?;
    Ok(())
}
