//! The operator commands: verify, rebuild, status, and the `projector` binary's exit codes.

mod common;

use std::time::Duration;

use common::world::mixed_workload;
use common::{catch_up_all, eventually, quick_settings, Result, World};
use projections::operator::{rebuild, status, verify};
use projections::{Projection, ProjectorRuntime};
use sqlx::PgPool;
use tokio::process::Command;
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

/// What a `projector` process did: its exit code and both output streams, shown whole in
/// assertion messages.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

async fn projector(pool: &PgPool, args: &[&str]) -> Result<Run> {
    let output = Command::new(env!("CARGO_BIN_EXE_projector"))
        .args(args)
        .env("DATABASE_URL", database_url(pool))
        .env("RUST_LOG", "warn")
        .output()
        .await?;
    Ok(Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_projector_binary_verify_exits_1_with_a_diff_summary_on_a_difference(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    mixed_workload(&world).await?;
    catch_up_all(&pool).await?;
    let run = projector(&pool, &["verify", "--all"]).await?;
    assert_eq!(run.code, Some(0), "{run}");
    assert!(
        run.stdout.contains("mailbox at v1.") && run.stdout.contains(": ok"),
        "{run}"
    );

    sqlx::query("UPDATE mailbox SET deleted = NOT deleted WHERE owner = 'alice'")
        .execute(&pool)
        .await?;
    let run = projector(&pool, &["verify", "mailbox"]).await?;
    assert_eq!(run.code, Some(1), "{run}");
    assert!(
        run.stdout.contains("DIFFERS") && run.stdout.contains("differing rows, e.g.: alice/"),
        "{run}"
    );

    // Right after the verify: its operator lock must not make the rebuild busy.
    let run = projector(&pool, &["rebuild", "mailbox"]).await?;
    assert_eq!(run.code, Some(0), "{run}");
    let run = projector(&pool, &["status"]).await?;
    assert_eq!(run.code, Some(0), "{run}");
    assert!(
        run.stdout.contains("\nmailbox ") && run.stdout.contains("\nmessages "),
        "{run}"
    );
    let report = verify(&pool, Projection::Mailbox, 50, &|_| {}).await?;
    assert!(report.is_clean(), "rebuild repaired the tampered rows");
    Ok(())
}

/// The operator lock's key class (`locks::OPERATOR`, private to the crate).
const OPERATOR_LOCK: i32 = 0x4853_0003;

/// Holds the operator lock of `mailbox` on a session of its own, as a running command does.
async fn hold_operator_lock(pool: &PgPool) -> Result<sqlx::PgConnection> {
    let mut holder = common::connect(pool).await?;
    sqlx::query("SELECT pg_advisory_lock($1, hashtext('mailbox'))")
        .bind(OPERATOR_LOCK)
        .execute(&mut holder)
        .await?;
    Ok(holder)
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_rebuild_waits_for_an_operator_command_that_is_ending_instead_of_failing_busy(
    pool: PgPool,
) -> Result<()> {
    use sqlx::Connection;

    let world = World::new(pool.clone()).await?;
    world.send("alice", "bob", None, "hello").await?;
    catch_up_all(&pool).await?;
    let holder = hold_operator_lock(&pool).await?;
    // The session of a command that has just exited ends a moment later on the server.
    let ending = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        holder.close().await
    });
    let report = rebuild(&pool, Projection::Mailbox, 50, &|_| {}).await?;
    assert_eq!(report.events_applied, 1);
    ending.await??;
    let run = projector(&pool, &["rebuild", "mailbox"]).await?;
    assert_eq!(run.code, Some(0), "the lock was released: {run}");
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_verify_beside_a_running_operator_command_reports_busy_within_seconds(
    pool: PgPool,
) -> Result<()> {
    let _holder = hold_operator_lock(&pool).await?;
    let started = std::time::Instant::now();
    let run = projector(&pool, &["verify", "mailbox"]).await?;
    assert_eq!(run.code, Some(2), "{run}");
    assert!(
        run.stderr
            .contains("another rebuild or verify of `mailbox` is running"),
        "{run}"
    );
    assert!(started.elapsed() < Duration::from_secs(10), "{run}");
    Ok(())
}

/// `projector` with `args` against `url` (no database of the test's own).
async fn projector_at(url: &str, args: &[&str]) -> Result<Run> {
    let output = Command::new(env!("CARGO_BIN_EXE_projector"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()
        .await?;
    Ok(Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

#[tokio::test]
async fn the_projector_binary_describes_itself_and_refuses_bad_arguments_with_exit_2() -> Result<()>
{
    let help = projector_at("postgres://unused", &["--help"]).await?;
    assert_eq!(help.code, Some(0), "{help}");
    assert!(
        help.stdout
            .starts_with("Keeps the read tables of Healing Space messaging"),
        "{help}"
    );
    for (args, says) in [
        (
            &["rebuild", "mailboxes"][..],
            "[possible values: messages, mailbox, audit_log, composer]",
        ),
        (&["rebuild"], "required"),
        (&["verify", "mailbox", "--all"], "cannot be used with"),
    ] {
        let run = projector_at("postgres://unused", args).await?;
        assert_eq!(run.code, Some(2), "{args:?}: {run}");
        assert!(
            run.stderr.starts_with("error: ") && run.stderr.contains(says),
            "{args:?}: {run}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn the_projector_binary_fails_at_once_on_an_unreachable_database_saying_why() -> Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let started = std::time::Instant::now();
    let run = projector_at(
        &format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        &["status"],
    )
    .await?;
    assert!(started.elapsed() < Duration::from_secs(5), "{run}");
    assert_eq!(run.code, Some(2), "{run}");
    assert_eq!(
        run.stderr.trim_end(),
        format!("projector: cannot connect to PostgreSQL at 127.0.0.1:{port} (connection refused)")
    );
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_projector_status_into_a_closed_pipe_ends_quietly(pool: PgPool) -> Result<()> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_projector"))
        .arg("status")
        .env("DATABASE_URL", database_url(&pool))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    drop(child.stdout.take());
    let output = child.wait_with_output().await?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    Ok(())
}
