//! Gap-free catch-up: commit order, open transactions, kills between batches.

mod common;

use std::time::Duration;

use common::{
    append_raw, apply_available, catch_up, checkpoint, connect, quick_settings, sent_event, Result,
    World,
};
use projections::operator::verify;
use projections::{apply_next_batch, Projection, ProjectorRuntime};
use sqlx::{Connection, PgPool};
use tokio_util::sync::CancellationToken;

async fn mailbox_rows(pool: &PgPool) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM mailbox")
        .fetch_one(pool)
        .await?)
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn two_transactions_committing_out_of_order_are_both_projected(pool: PgPool) -> Result<()> {
    World::new(pool.clone()).await?;
    let (mut first, mut second) = (connect(&pool).await?, connect(&pool).await?);

    // The first transaction appends first, the second appends after it but commits first.
    let mut t1 = first.begin().await?;
    let e1 = sent_event("alice", "bob", "first to append, last to commit");
    append_raw(&mut t1, &e1.message_id().to_string(), 1, &e1).await?;
    let mut t2 = second.begin().await?;
    let e2 = sent_event("bob", "alice", "second to append, first to commit");
    append_raw(&mut t2, &e2.message_id().to_string(), 1, &e2).await?;
    t2.commit().await?;
    assert_eq!(
        apply_available(&pool, Projection::Mailbox).await?,
        0,
        "held back by the open one"
    );
    t1.commit().await?;
    assert_eq!(catch_up(&pool, Projection::Mailbox).await?, 2);

    // Now commit order and append order disagree within the log: the first transaction appends
    // (position p), the second appends (p + 1), the first appends again (p + 2) and the second
    // commits first. Commit order puts p + 2 before p + 1.
    let mut t3 = first.begin().await?;
    let e3 = sent_event("alice", "bob", "lower transaction, first append");
    append_raw(&mut t3, &e3.message_id().to_string(), 1, &e3).await?;
    let mut t4 = second.begin().await?;
    let e4 = sent_event("bob", "alice", "later transaction, middle position");
    append_raw(&mut t4, &e4.message_id().to_string(), 1, &e4).await?;
    let e5 = sent_event("alice", "bob", "lower transaction, highest position");
    append_raw(&mut t3, &e5.message_id().to_string(), 1, &e5).await?;
    t4.commit().await?;
    assert_eq!(apply_available(&pool, Projection::Mailbox).await?, 0);
    t3.commit().await?;
    assert_eq!(catch_up(&pool, Projection::Mailbox).await?, 3);

    assert_eq!(
        mailbox_rows(&pool).await?,
        10,
        "five messages, two rows each"
    );
    assert_eq!(checkpoint(&pool, Projection::Mailbox).await?.0, 5);
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_transaction_that_wrote_before_cannot_append(pool: PgPool) -> Result<()> {
    World::new(pool.clone()).await?;
    let mut conn = connect(&pool).await?;
    // Its transaction id may be older than a horizon a projector has already passed.
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *tx)
        .await?;
    let event = sent_event("alice", "bob", "after another write");
    let refused = append_raw(&mut tx, &event.message_id().to_string(), 1, &event).await;
    let message = format!("{:?}", refused.err());
    assert!(
        message.contains("written nothing before"),
        "refused with a clear reason: {message}"
    );
    tx.rollback().await?;
    // Appending first and writing afterwards is fine, and so is a second append.
    let mut tx = conn.begin().await?;
    append_raw(&mut tx, &event.message_id().to_string(), 1, &event).await?;
    sqlx::query("UPDATE users SET display_name = display_name WHERE username = 'alice'")
        .execute(&mut *tx)
        .await?;
    let second = sent_event("bob", "alice", "second append");
    append_raw(&mut tx, &second.message_id().to_string(), 1, &second).await?;
    tx.commit().await?;
    assert_eq!(catch_up(&pool, Projection::Mailbox).await?, 2);
    Ok(())
}

/// Opens a transaction that appends one event and keeps it open while the domain commits
/// three messages, with a running projector; returns the open transaction's connection.
async fn hold_open_while_commands_commit(
    pool: &PgPool,
    world: &World,
) -> Result<(
    sqlx::PgConnection,
    CancellationToken,
    tokio::task::JoinHandle<()>,
)> {
    world
        .send("alice", "bob", None, "before the open transaction")
        .await?;
    let mut open = connect(pool).await?;
    sqlx::query("BEGIN").execute(&mut open).await?;
    let held = sent_event("eve", "bob", "held open");
    append_raw(&mut open, &held.message_id().to_string(), 1, &held).await?;
    for n in 0..3 {
        world
            .send("bob", "alice", None, &format!("after {n}"))
            .await?;
    }
    let shutdown = CancellationToken::new();
    let task = ProjectorRuntime::new(pool.clone(), quick_settings()).spawn(shutdown.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mailbox WHERE content LIKE 'after %'")
            .fetch_one(pool)
            .await?;
    assert_eq!(
        later, 0,
        "nothing committed after the open transaction began is applied"
    );
    assert!(checkpoint(pool, Projection::Mailbox).await?.0 <= 1);
    Ok((open, shutdown, task))
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn an_open_write_transaction_holds_projection_back_until_it_commits(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let (mut open, shutdown, task) = hold_open_while_commands_commit(&pool, &world).await?;
    sqlx::query("COMMIT").execute(&mut open).await?;
    let done = common::eventually(Duration::from_secs(5), || async {
        Ok(checkpoint(&pool, Projection::Mailbox).await?.0 == 5)
    })
    .await?;
    shutdown.cancel();
    task.await?;
    assert!(
        done,
        "all five events are applied once the transaction commits"
    );
    assert_eq!(mailbox_rows(&pool).await?, 10);
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn nothing_is_skipped_when_an_open_transaction_rolls_back(pool: PgPool) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let (mut open, shutdown, task) = hold_open_while_commands_commit(&pool, &world).await?;
    sqlx::query("ROLLBACK").execute(&mut open).await?;
    let done = common::eventually(Duration::from_secs(5), || async {
        Ok(checkpoint(&pool, Projection::Mailbox).await?.0 == 4)
    })
    .await?;
    shutdown.cancel();
    task.await?;
    assert!(
        done,
        "the four committed events are applied after the rollback"
    );
    assert_eq!(mailbox_rows(&pool).await?, 8);
    let eve: i64 = sqlx::query_scalar("SELECT count(*) FROM mailbox WHERE owner = 'eve'")
        .fetch_one(&pool)
        .await?;
    assert_eq!(eve, 0, "the rolled-back event never appears");
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_projector_killed_between_or_within_batches_neither_skips_nor_repeats(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let mut ids = Vec::new();
    for n in 0..8 {
        ids.push(
            world
                .send("alice", "bob", Some("budget"), &format!("message {n}"))
                .await?,
        );
    }
    // Two batches, each on a connection that is then dropped (the process dies).
    for expected in [3, 6] {
        let mut conn = connect(&pool).await?;
        // A command's append may still be finishing; a batch then applies fewer events (never
        // other ones), so top it up.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let current = checkpoint(&pool, Projection::Mailbox).await?.0;
            if current >= expected || std::time::Instant::now() > deadline {
                break;
            }
            let missing = u32::try_from(expected - current).unwrap_or(3);
            apply_next_batch(&mut conn, Projection::Mailbox, missing).await?;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(conn);
        assert_eq!(checkpoint(&pool, Projection::Mailbox).await?.0, expected);
    }
    // Kill a running projector at arbitrary moments while commands keep coming.
    for (round, id) in ids.iter().enumerate() {
        let task =
            ProjectorRuntime::new(pool.clone(), quick_settings()).spawn(CancellationToken::new());
        world.read("bob", *id).await?;
        world
            .send("bob", "alice", None, &format!("answer {round}"))
            .await?;
        tokio::time::sleep(Duration::from_millis(7 * round as u64)).await;
        task.abort();
        let _ = task.await;
    }
    let total = world.event_count().await?;
    let shutdown = CancellationToken::new();
    let task = ProjectorRuntime::new(pool.clone(), quick_settings()).spawn(shutdown.clone());
    let done = common::eventually(Duration::from_secs(10), || async {
        Ok(checkpoint(&pool, Projection::Mailbox).await?.0 == total
            && checkpoint(&pool, Projection::Messages).await?.0 == total)
    })
    .await?;
    shutdown.cancel();
    task.await?;
    assert!(
        done,
        "every event applied exactly once (events_applied == {total})"
    );
    for projection in Projection::ALL {
        let report = verify(&pool, projection, 50, &|_| {}).await?;
        assert!(report.is_clean(), "{report:?}");
    }
    let unread: i32 =
        sqlx::query_scalar("SELECT unread FROM unread_counters WHERE owner = 'alice'")
            .fetch_one(&pool)
            .await?;
    assert_eq!(
        unread, 8,
        "alice has eight unread answers, none counted twice"
    );
    Ok(())
}

/// Starts a projector, sends a message and returns how long it took to reach the mailbox.
async fn time_to_project(pool: &PgPool, world: &World, content: &str) -> Result<Duration> {
    let shutdown = CancellationToken::new();
    let task = ProjectorRuntime::new(pool.clone(), quick_settings()).spawn(shutdown.clone());
    // Let the projector catch up on whatever came before.
    common::eventually(Duration::from_secs(10), || async {
        Ok(checkpoint(pool, Projection::Mailbox).await?.0 == world.event_count().await?)
    })
    .await?;
    let id = world.send("alice", "bob", None, content).await?;
    let started = std::time::Instant::now();
    let seen = common::eventually(Duration::from_secs(10), || async {
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM mailbox WHERE message_id = $1")
            .bind(id)
            .fetch_one(pool)
            .await?;
        Ok(rows == 2)
    })
    .await?;
    let took = started.elapsed();
    shutdown.cancel();
    task.await?;
    anyhow::ensure!(seen, "`{content}` was never projected");
    Ok(took)
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_writer_open_in_another_database_does_not_hold_the_projection_back(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    // Another database of the same server, with a transaction that has written and stays open.
    let other = format!("hs_horizon_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {other}"))
        .execute(&pool)
        .await?;
    let options = pool.connect_options().as_ref().clone().database(&other);
    let mut elsewhere = sqlx::PgConnection::connect_with(&options).await?;
    sqlx::query("CREATE TABLE batch_job (n int)")
        .execute(&mut elsewhere)
        .await?;
    sqlx::query("BEGIN").execute(&mut elsewhere).await?;
    sqlx::query("INSERT INTO batch_job VALUES (1)")
        .execute(&mut elsewhere)
        .await?;
    let took = time_to_project(&pool, &world, "while a batch job idles elsewhere").await;
    sqlx::query("ROLLBACK").execute(&mut elsewhere).await?;
    elsewhere.close().await?;
    sqlx::query(&format!("DROP DATABASE {other}"))
        .execute(&pool)
        .await?;
    let took = took?;
    // The figure that matters is in the bench; here it must simply not wait for the writer.
    println!("projected in {took:?} beside a writer open in another database");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_writer_open_on_another_table_does_not_hold_the_projection_back(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let mut writer = connect(&pool).await?;
    sqlx::query("BEGIN").execute(&mut writer).await?;
    sqlx::query("UPDATE users SET display_name = display_name WHERE username = 'eve'")
        .execute(&mut writer)
        .await?;
    let took = time_to_project(&pool, &world, "while a users update idles").await;
    sqlx::query("ROLLBACK").execute(&mut writer).await?;
    let took = took?;
    println!("projected in {took:?} beside a writer open on another table");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn an_appender_killed_in_the_middle_releases_the_horizon_and_leaves_nothing(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let mut appender = connect(&pool).await?;
    sqlx::query("BEGIN").execute(&mut appender).await?;
    let lost = sent_event("eve", "bob", "never committed");
    append_raw(&mut appender, &lost.message_id().to_string(), 1, &lost).await?;
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut appender)
        .await?;
    world
        .send("alice", "bob", None, "after the appender")
        .await?;
    assert_eq!(
        apply_available(&pool, Projection::Mailbox).await?,
        0,
        "held back by the open append"
    );
    // The appender's backend dies in the middle of its transaction.
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 5000)")
        .bind(pid)
        .fetch_one(&pool)
        .await?;
    assert!(killed);
    drop(appender);
    assert_eq!(catch_up(&pool, Projection::Mailbox).await?, 1);
    let eve: i64 = sqlx::query_scalar("SELECT count(*) FROM mailbox WHERE owner = 'eve'")
        .fetch_one(&pool)
        .await?;
    assert_eq!(eve, 0, "the killed append never appears");
    let report = verify(&pool, Projection::Mailbox, 100, &|_| {}).await?;
    assert!(report.is_clean(), "{report:?}");
    Ok(())
}
