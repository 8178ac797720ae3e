//! Replay speed: `projector rebuild --all` over the loaded log, timed; and waiting until the
//! live projections have caught up with the log before queries are measured.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::PgPool;
use tokio::process::Command;

use crate::error::BenchResult;

/// What the rebuild did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayFigure {
    /// Events in the log when the rebuild started.
    pub events: i64,
    /// Projections rebuilt (each replays the whole log).
    pub projections: i64,
    pub seconds: f64,
    /// Log events per second of wall time (`events / seconds`).
    pub events_per_second: f64,
}

/// Runs `projector rebuild --all` against `database_url` and times it. `Err` carries why the
/// figure could not be measured (no binary, a failure with the end of its output).
pub async fn rebuild_all(
    projector: &Path,
    database_url: &str,
    pool: &PgPool,
    rust_log: &str,
    log_file: &Path,
) -> BenchResult<Result<ReplayFigure, String>> {
    if !projector.is_file() {
        return Ok(Err(format!(
            "no projector binary at {} (cargo build --release -p projections)",
            projector.display()
        )));
    }
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await?;
    let projections: i64 = sqlx::query_scalar("SELECT count(*) FROM projection_checkpoints")
        .fetch_one(pool)
        .await?;
    let log = std::fs::File::create(log_file)?;
    let started = Instant::now();
    let status = Command::new(projector)
        .args(["rebuild", "--all"])
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", rust_log)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .status()
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    if !status.success() {
        let output = std::fs::read_to_string(log_file).unwrap_or_default();
        let output = strip_ansi(&output);
        let tail: Vec<&str> = output.lines().rev().take(3).collect();
        return Ok(Err(format!(
            "projector rebuild --all exited with {status}: {}",
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        )));
    }
    Ok(Ok(ReplayFigure {
        events,
        projections,
        seconds,
        events_per_second: if seconds > 0.0 {
            events as f64 / seconds
        } else {
            0.0
        },
    }))
}

/// `text` without terminal colour sequences (`ESC [ ... m`).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether every projection's checkpoint is at the last event of the log (commit order).
pub async fn caught_up(pool: &PgPool) -> BenchResult<bool> {
    let done: Option<bool> = sqlx::query_scalar(
        "WITH head AS (
             SELECT transaction_id, global_position FROM events
             ORDER BY transaction_id DESC, global_position DESC LIMIT 1)
         SELECT coalesce(bool_and(c.transaction_id = h.transaction_id
                                  AND c.global_position = h.global_position), false)
              OR NOT EXISTS (SELECT 1 FROM head)
         FROM projection_checkpoints c LEFT JOIN head h ON true",
    )
    .fetch_one(pool)
    .await?;
    Ok(done.unwrap_or(false))
}

/// Waits until the projections have caught up, at most `limit`, giving up earlier when no
/// checkpoint moved for 20 s. Returns whether they caught up.
pub async fn wait_for_catch_up(pool: &PgPool, limit: Duration) -> BenchResult<bool> {
    let started = Instant::now();
    let mut last_applied: i64 = -1;
    let mut last_move = Instant::now();
    while started.elapsed() < limit {
        if caught_up(pool).await? {
            return Ok(true);
        }
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT sum(events_applied)::bigint FROM projection_checkpoints")
                .fetch_one(pool)
                .await?;
        let applied = applied.unwrap_or(0);
        if applied != last_applied {
            last_applied = applied;
            last_move = Instant::now();
        } else if last_move.elapsed() > Duration::from_secs(20) {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(false)
}

/// Waits (at most `limit`) until every transaction that wrote the loaded log is below the
/// append horizon (`events_horizon()`): projectors read only below it. Returns whether the
/// horizon passed the log.
pub async fn wait_for_horizon(pool: &PgPool, limit: Duration) -> BenchResult<bool> {
    let started = Instant::now();
    loop {
        let passed: Option<bool> = sqlx::query_scalar(
            "SELECT coalesce(events_horizon() > (SELECT max(transaction_id) FROM events), true)",
        )
        .fetch_one(pool)
        .await?;
        if passed.unwrap_or(true) {
            return Ok(true);
        }
        if started.elapsed() >= limit {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The fewest events any projection has applied (what a rebuild actually replayed).
pub async fn least_applied(pool: &PgPool) -> BenchResult<i64> {
    let least: Option<i64> =
        sqlx::query_scalar("SELECT min(events_applied)::bigint FROM projection_checkpoints")
            .fetch_one(pool)
            .await?;
    Ok(least.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_sequences_are_removed_from_log_lines() {
        assert_eq!(
            strip_ansi("\u{1b}[2mtime\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m done"),
            "time  INFO done"
        );
    }
}
