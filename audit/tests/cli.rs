//! The `audit` binary against a real database: `verify` exits 0 on a clean log and 1 with the
//! position after tampering, `head` prints an anchor `verify --anchor` accepts (and that catches a
//! truncated log), and `export` writes a patient's entries as CSV or JSON lines, without message
//! content. Then the binary as an operator meets it: its help, usage errors (exit 2), an
//! unreachable database, a reader that closes the pipe.

mod support;

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use audit::access::{insert, AccessEntry};
use chrono::Utc;
use projections::Projection;
use serde_json::Value;
use sqlx::PgPool;
use support::{catch_up, database_url, positions, refused_url, small_history, Commands, Result};
use tokio::process::Command;

async fn audit_cli(pool: &PgPool, args: &[&str]) -> Result<Output> {
    Ok(Command::new(env!("CARGO_BIN_EXE_audit"))
        .args(args)
        .env("DATABASE_URL", database_url(pool))
        .output()
        .await?)
}

/// `audit` with `args` against `url`, no database needed by the test itself.
async fn audit_at(url: &str, args: &[&str]) -> Result<Output> {
    Ok(Command::new(env!("CARGO_BIN_EXE_audit"))
        .args(args)
        .env("DATABASE_URL", url)
        .output()
        .await?)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn projected_history(pool: &PgPool) -> Result<Vec<String>> {
    let commands = Commands::new(pool.clone()).await?;
    let ids = small_history(&commands).await?;
    catch_up(pool, Projection::AuditLog).await?;
    Ok(ids)
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn verify_exits_0_on_a_clean_log_and_1_with_the_position_after_tampering(
    pool: PgPool,
) -> Result<()> {
    projected_history(&pool).await?;
    let clean = audit_cli(&pool, &["verify"]).await?;
    assert_eq!(clean.status.code(), Some(0), "{}", stdout(&clean));
    let events = positions(&pool).await?;
    assert!(
        stdout(&clean).contains(&format!("ok: {} entries verified", events.len())),
        "{}",
        stdout(&clean)
    );

    let head = audit_cli(&pool, &["head"]).await?;
    assert_eq!(head.status.code(), Some(0));
    let anchor = stdout(&head)
        .lines()
        .find_map(|line| line.strip_prefix("anchor: ").map(str::to_owned))
        .ok_or_else(|| anyhow::anyhow!("no anchor in {}", stdout(&head)))?;
    let anchored = audit_cli(&pool, &["verify", "--anchor", &anchor]).await?;
    assert_eq!(anchored.status.code(), Some(0), "{}", stdout(&anchored));
    let bad_anchor = audit_cli(&pool, &["verify", "--anchor", "nonsense"]).await?;
    assert_eq!(
        bad_anchor.status.code(),
        Some(2),
        "could not run is not tampered"
    );

    let target = events[2];
    let mut tx = pool.begin().await?;
    sqlx::query("ALTER TABLE events DISABLE TRIGGER events_append_only")
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM events WHERE global_position = $1")
        .bind(target)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let tampered = audit_cli(&pool, &["verify"]).await?;
    assert_eq!(tampered.status.code(), Some(1), "{}", stdout(&tampered));
    assert!(
        stdout(&tampered).contains(&format!("TAMPERED: position {target}:")),
        "{}",
        stdout(&tampered)
    );
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn export_writes_the_patients_entries_as_csv_and_json_lines(pool: PgPool) -> Result<()> {
    let ids = projected_history(&pool).await?;
    let read = AccessEntry {
        occurred_at: Utc::now(),
        actor: "bob".into(),
        role: "patient".into(),
        action: "conversation_viewed",
        counterpart: Some("alice".into()),
        message_ids: vec![ids[0].parse()?],
        query_length: None,
        result_count: 1,
        request_id: Some("q-1".into()),
        client_ip: Some("203.0.113.7".into()),
        user_agent: None,
        subjects: Vec::new(),
    };
    let unrelated = AccessEntry {
        actor: "dr_dave".into(),
        counterpart: Some("dr_carol".into()),
        ..read.clone()
    };
    insert(&mut *pool.acquire().await?, &[read, unrelated]).await?;
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE actor = 'alice' OR 'alice' = ANY (participants)",
    )
    .fetch_one(&pool)
    .await?;
    assert!(events > 5);

    let dir = std::env::temp_dir().join(format!("audit-export-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let jsonl = dir.join("alice.jsonl");
    let csv = dir.join("alice.csv");
    for (format, path) in [("jsonl", &jsonl), ("csv", &csv)] {
        let output = audit_cli(
            &pool,
            &[
                "export",
                "--patient",
                "alice",
                "--from",
                "2000-01-01",
                "--to",
                "2999-01-01T00:00:00Z",
                "--format",
                format,
                "--output",
                &path.to_string_lossy(),
            ],
        )
        .await?;
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let lines: Vec<Value> = std::fs::read_to_string(&jsonl)?
        .lines()
        .map(serde_json::from_str)
        .collect::<std::result::Result<_, _>>()?;
    assert_eq!(lines.len() as i64, events + 1);
    assert!(lines[..events as usize]
        .iter()
        .all(|l| l["kind"] == "event" && l["position"].is_i64()));
    assert_eq!(lines[0]["action"], "message_sent");
    assert_eq!(lines[0]["actor"], "alice");
    assert_eq!(lines[0]["message_id"], ids[0].as_str());
    let last = &lines[events as usize];
    assert_eq!(
        (&last["kind"], &last["actor"], &last["action"]),
        (
            &Value::from("access"),
            &Value::from("bob"),
            &Value::from("conversation_viewed")
        )
    );

    let csv_text = std::fs::read_to_string(&csv)?;
    let rows: Vec<&str> = csv_text.lines().collect();
    assert_eq!(
        rows[0],
        "kind,position,occurred_at,actor,action,message_id,counterpart,request_id,client_ip,user_agent,details"
    );
    assert_eq!(rows.len() as i64, events + 2, "header, events, one read");
    assert!(rows[1].starts_with("event,") && rows[1].contains(",alice,message_sent,"));
    assert!(rows.iter().any(|r| r.starts_with("access,")));
    for text in [&csv_text, &std::fs::read_to_string(&jsonl)?] {
        assert!(!text.contains("note "), "message content in the export");
        assert!(
            !text.contains("dr_dave"),
            "another user's reads in the export"
        );
    }

    let window = audit_cli(
        &pool,
        &["export", "--patient", "alice", "--to", "2000-01-01"],
    )
    .await?;
    assert_eq!(
        window.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&window.stderr)
    );
    assert!(
        stdout(&window).is_empty(),
        "nothing before the window's end"
    );
    let unbounded = audit_cli(&pool, &["export", "--patient", "alice"]).await?;
    assert_eq!(unbounded.status.code(), Some(0));
    assert_eq!(stdout(&unbounded).lines().count() as i64, events + 1);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn verify_with_an_anchor_fails_once_the_log_is_truncated_below_it(
    pool: PgPool,
) -> Result<()> {
    projected_history(&pool).await?;
    let head = audit_cli(&pool, &["head"]).await?;
    let anchor = stdout(&head)
        .lines()
        .find_map(|line| line.strip_prefix("anchor: ").map(str::to_owned))
        .ok_or_else(|| anyhow::anyhow!("no anchor in {}", stdout(&head)))?;
    let events = positions(&pool).await?;
    let (kept, cut) = events.split_at(events.len() - 2);
    // Someone with owner rights cuts the newest events off and recomputes the audit log.
    let mut tx = pool.begin().await?;
    sqlx::query("ALTER TABLE events DISABLE TRIGGER events_append_only")
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM events WHERE global_position = ANY($1)")
        .bind(cut)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    projections::operator::rebuild(&pool, Projection::AuditLog, 50, &|_| {}).await?;

    let alone = audit_cli(&pool, &["verify"]).await?;
    assert_eq!(
        alone.status.code(),
        Some(0),
        "a truncated chain is consistent in itself: {}",
        stdout(&alone)
    );
    let anchored = audit_cli(&pool, &["verify", "--anchor", &anchor]).await?;
    assert_eq!(anchored.status.code(), Some(1), "{}", stdout(&anchored));
    let anchor_position = anchor.split(':').next().unwrap_or_default();
    let head_position = kept.last().copied().unwrap_or_default();
    assert!(
        stdout(&anchored).contains(&format!(
            "TAMPERED: position {anchor_position}: the anchor lies past the head \
             (position {head_position}): the log was truncated below the anchor"
        )),
        "{}",
        stdout(&anchored)
    );
    Ok(())
}

#[tokio::test]
async fn help_describes_the_audit_command_itself() -> Result<()> {
    let help = audit_at("postgres://unused", &["--help"]).await?;
    assert_eq!(help.status.code(), Some(0), "{}", stderr(&help));
    let first = stdout(&help).lines().next().unwrap_or_default().to_owned();
    assert!(
        first.starts_with("The auditors' command line of Healing Space messaging"),
        "{}",
        stdout(&help)
    );
    Ok(())
}

#[tokio::test]
async fn bad_argument_combinations_are_usage_errors_with_exit_2() -> Result<()> {
    let url = "postgres://unused";
    for (args, says) in [
        (
            &[
                "export",
                "--patient",
                "alice",
                "--from",
                "2026-02-01",
                "--to",
                "2026-01-01",
            ][..],
            "must be before --to",
        ),
        (
            &[
                "export",
                "--patient",
                "alice",
                "--from",
                "2026-01-01",
                "--to",
                "2026-01-01",
            ],
            "must be before --to",
        ),
        (
            &["export", "--patient", "alice", "--from", "yesterday"],
            "--from",
        ),
        (&["verify", "--anchor", "nonsense"], "POSITION:HEX_HASH"),
        (&["verify", "--anchor", "12:zz"], "not hexadecimal"),
        (&["export"], "--patient"),
    ] {
        let output = audit_at(url, args).await?;
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).starts_with("error: ") && stderr(&output).contains(says),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(stderr(&output).contains("--help"), "{}", stderr(&output));
    }
    Ok(())
}

#[tokio::test]
async fn an_unreachable_database_fails_at_once_naming_where_and_why() -> Result<()> {
    let (url, port) = refused_url()?;
    let started = Instant::now();
    let output = audit_at(&url, &["head"]).await?;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert_eq!(
        stderr(&output).trim_end(),
        format!("audit: cannot connect to PostgreSQL at 127.0.0.1:{port} (connection refused)")
    );
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn an_export_into_a_closed_pipe_ends_quietly(pool: PgPool) -> Result<()> {
    projected_history(&pool).await?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_audit"))
        .args(["export", "--patient", "alice"])
        .env("DATABASE_URL", database_url(&pool))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // The reader is gone before the first line (`audit export | head -0`).
    drop(child.stdout.take());
    let output = child.wait_with_output().await?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        !stderr(&output).to_lowercase().contains("broken pipe"),
        "{}",
        stderr(&output)
    );
    Ok(())
}

/// Access-log rows of every shape (NULLs and values in each nullable column, several message
/// ids, disclosed subjects), written by two writers at once.
async fn chained_access_log(pool: &PgPool) -> Result<()> {
    let entry = |n: usize| AccessEntry {
        occurred_at: Utc::now(),
        actor: format!("reader{}", n % 3),
        role: if n % 2 == 0 { "admin" } else { "patient" }.into(),
        action: if n % 2 == 0 {
            "deleted_listed"
        } else {
            "search"
        },
        counterpart: (n % 3 == 0).then(|| "bob".to_owned()),
        message_ids: (0..n % 4).map(|_| uuid::Uuid::new_v4()).collect(),
        query_length: (n % 2 == 1).then_some(7),
        result_count: i32::try_from(n).unwrap_or(0),
        request_id: Some(format!("req-{n}")),
        client_ip: (n % 5 != 0).then(|| "192.0.2.9".to_owned()),
        user_agent: (n % 4 == 0).then(|| "Mozilla/5.0 \"quoted\", with commas".to_owned()),
        subjects: if n % 2 == 0 {
            vec!["alice".into(), "bob".into()]
        } else {
            Vec::new()
        },
    };
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let pool = pool.clone();
            let batch: Vec<AccessEntry> = (0..15).map(|n| entry(w * 15 + n)).collect();
            tokio::spawn(async move { insert(&mut *pool.acquire().await?, &batch).await })
        })
        .collect();
    for writer in writers {
        writer.await??;
    }
    Ok(())
}

/// Runs `tamper` (with the append-only trigger lifted) and returns what `audit verify` says.
async fn verify_after(pool: &PgPool, tamper: &[&str]) -> Result<Output> {
    chained_access_log(pool).await?;
    let clean = audit_cli(pool, &["verify"]).await?;
    assert_eq!(clean.status.code(), Some(0), "{}", stdout(&clean));
    assert!(
        stdout(&clean).contains("ok: 30 access-log rows verified"),
        "{}",
        stdout(&clean)
    );
    let mut tx = pool.begin().await?;
    sqlx::query("ALTER TABLE access_log DISABLE TRIGGER access_log_append_only")
        .execute(&mut *tx)
        .await?;
    sqlx::query("ALTER TABLE access_log DISABLE TRIGGER access_log_chain")
        .execute(&mut *tx)
        .await?;
    for statement in tamper {
        sqlx::query(statement).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    audit_cli(pool, &["verify"]).await
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn verify_finds_an_edited_access_log_row(pool: PgPool) -> Result<()> {
    let output = verify_after(
        &pool,
        &["UPDATE access_log SET actor = 'someone_else' WHERE chain_seq = 10"],
    )
    .await?;
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("TAMPERED: access log row 10: its columns do not match its hash"),
        "{}",
        stdout(&output)
    );
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn verify_finds_a_deleted_access_log_row(pool: PgPool) -> Result<()> {
    let output = verify_after(&pool, &["DELETE FROM access_log WHERE chain_seq = 12"]).await?;
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("rows between 11 and 13 are missing"),
        "{}",
        stdout(&output)
    );
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn verify_finds_an_inserted_access_log_row(pool: PgPool) -> Result<()> {
    // A row slipped in at place 8, correctly hashed after row 7, the later ones renumbered.
    let output = verify_after(
        &pool,
        &[
            "UPDATE access_log SET chain_seq = chain_seq + 1000 WHERE chain_seq >= 8",
            "UPDATE access_log SET chain_seq = chain_seq - 999 WHERE chain_seq >= 1008",
            "INSERT INTO access_log (occurred_at, actor, role, action, result_count, chain_seq,
                 prev_hash, hash)
             SELECT now(), 'intruder', 'admin', 'deleted_listed', 0, 8, hash, hash
             FROM access_log WHERE chain_seq = 7",
            "UPDATE access_log a SET hash = sha256(a.prev_hash
                 || convert_to(access_log_canonical(a), 'UTF8'))
             WHERE chain_seq = 8",
        ],
    )
    .await?;
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("TAMPERED: access log row 9: does not continue the chain"),
        "{}",
        stdout(&output)
    );
    Ok(())
}
