//! The operator commands: verify, rebuild, status, and the `projector` binary's exit codes.

mod common;

use std::process::Command;
use std::time::Duration;

use common::world::mixed_workload;
use common::{catch_up_all, eventually, quick_settings, Result, World};
use projections::operator::{rebuild, status, verify};
use projections::{Projection, ProjectorRuntime};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn verify_passes_after_a_mixed_workload_of_every_command(pool: PgPool) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    mixed_workload(&world).await?;
    catch_up_all(&pool).await?;
    for projection in Projection::ALL {
        let report = verify(&pool, projection, 7, &|_| {}).await?;
        assert!(report.is_clean(), "{report:?}");
        assert!(report.tables.iter().all(|t| t.live_rows > 0), "{report:?}");
    }
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn verify_fails_and_names_the_rows_after_a_read_row_is_tampered_with(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    mixed_workload(&world).await?;
    catch_up_all(&pool).await?;
    sqlx::query(
        "UPDATE conversations SET unread_count = unread_count + 1
         WHERE owner = 'bob' AND counterpart = 'alice'",
    )
    .execute(&pool)
    .await?;
    sqlx::query("UPDATE messages SET content = 'forged' WHERE subject = 'Case'")
        .execute(&pool)
        .await?;
    let mailbox = verify(&pool, Projection::Mailbox, 50, &|_| {}).await?;
    assert!(!mailbox.is_clean());
    let conversations = mailbox
        .tables
        .iter()
        .find(|t| t.table == "conversations")
        .ok_or_else(|| anyhow::anyhow!("no conversations diff"))?;
    assert_eq!(
        (conversations.only_live, conversations.only_rebuilt),
        (1, 1)
    );
    assert_eq!(conversations.sample_keys, ["bob/alice"]);
    let messages = verify(&pool, Projection::Messages, 50, &|_| {}).await?;
    assert!(!messages.is_clean());
    assert_eq!(messages.tables[0].only_live, 1);
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn rebuild_swaps_in_identical_tables_while_the_projector_keeps_running(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    mixed_workload(&world).await?;
    let shutdown = CancellationToken::new();
    let task = ProjectorRuntime::new(pool.clone(), quick_settings()).spawn(shutdown.clone());
    // Tamper first: the rebuild must repair it.
    catch_up_all(&pool).await?;
    sqlx::query("UPDATE unread_counters SET unread = 99")
        .execute(&pool)
        .await?;
    let writer = {
        let world = World::empty(pool.clone());
        tokio::spawn(async move {
            for n in 0..10 {
                world
                    .send("bob", "alice", None, &format!("during the rebuild {n}"))
                    .await?;
            }
            anyhow::Ok(())
        })
    };
    for projection in Projection::ALL {
        let report = rebuild(&pool, projection, 4, &|_| {}).await?;
        assert!(report.events_applied > 0);
    }
    writer.await??;
    let total = world.event_count().await?;
    let caught_up = eventually(Duration::from_secs(10), || async {
        let mut done = true;
        for projection in Projection::ALL {
            done &= common::checkpoint(&pool, projection).await?.0 == total;
        }
        Ok(done)
    })
    .await?;
    assert!(
        caught_up,
        "the live projector continues on the swapped-in tables"
    );
    for projection in Projection::ALL {
        let report = verify(&pool, projection, 50, &|_| {}).await?;
        assert!(report.is_clean(), "{report:?}");
    }
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE tablename = 'messages' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(
        indexes,
        [
            "idx_messages_not_deleted",
            "idx_messages_parent",
            "idx_messages_recipient",
            "idx_messages_sender",
            "idx_messages_sent_at",
            "messages_hidden_idx",
            "messages_pkey"
        ]
    );
    let schemas: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'hs\\_%'")
            .fetch_one(&pool)
            .await?;
    assert_eq!(schemas, 0, "no scratch schema is left behind");
    shutdown.cancel();
    task.await?;
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn status_reports_checkpoints_pending_events_and_the_leader(pool: PgPool) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    world.send("alice", "bob", None, "hello").await?;
    let ours = |all: Vec<projections::operator::ProjectionStatus>| {
        all.into_iter()
            .filter(|s| s.projection == "messages" || s.projection == "mailbox")
            .collect::<Vec<_>>()
    };
    let before = ours(status(&pool).await?);
    assert_eq!(before.len(), 2);
    assert!(before.iter().all(|s| s.pending == 1 && !s.leader_active));
    assert!(before.iter().all(|s| s.oldest_pending_at.is_some()));
    let runtime = ProjectorRuntime::new(pool.clone(), quick_settings());
    let stats = runtime.stats();
    let shutdown = CancellationToken::new();
    let task = runtime.spawn(shutdown.clone());
    let running = eventually(Duration::from_secs(5), || async {
        let now = status(&pool).await?;
        Ok(now
            .iter()
            .all(|s| s.pending == 0 && s.events_applied == 1 && s.leader_active))
    })
    .await?;
    assert!(running && stats.is_leader(Projection::Mailbox));
    shutdown.cancel();
    task.await?;
    Ok(())
}

fn database_url(pool: &PgPool) -> String {
    let options = pool.connect_options();
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("postgres")
    )
}

fn projector(pool: &PgPool, args: &[&str]) -> Result<(i32, String)> {
    let output = Command::new(env!("CARGO_BIN_EXE_projector"))
        .args(args)
        .env("DATABASE_URL", database_url(pool))
        .env("RUST_LOG", "error")
        .output()?;
    let code = output.status.code().unwrap_or(-1);
    Ok((code, String::from_utf8_lossy(&output.stdout).into_owned()))
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_projector_binary_verify_exits_1_with_a_diff_summary_on_a_difference(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    mixed_workload(&world).await?;
    catch_up_all(&pool).await?;
    let pool2 = pool.clone();
    let (code, out) =
        tokio::task::spawn_blocking(move || projector(&pool2, &["verify", "--all"])).await??;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("mailbox at v1.") && out.contains(": ok"),
        "{out}"
    );

    sqlx::query("UPDATE mailbox SET deleted = NOT deleted WHERE owner = 'alice'")
        .execute(&pool)
        .await?;
    let pool2 = pool.clone();
    let (code, out) =
        tokio::task::spawn_blocking(move || projector(&pool2, &["verify", "mailbox"])).await??;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("DIFFERS") && out.contains("differing rows, e.g.: alice/"),
        "{out}"
    );

    let pool2 = pool.clone();
    let (code, out) =
        tokio::task::spawn_blocking(move || projector(&pool2, &["rebuild", "mailbox"])).await??;
    assert_eq!(code, 0, "{out}");
    let pool2 = pool.clone();
    let (code, out) = tokio::task::spawn_blocking(move || projector(&pool2, &["status"])).await??;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("\nmailbox ") && out.contains("\nmessages "),
        "{out}"
    );
    let report = verify(&pool, Projection::Mailbox, 50, &|_| {}).await?;
    assert!(report.is_clean(), "rebuild repaired the tampered rows");
    Ok(())
}
