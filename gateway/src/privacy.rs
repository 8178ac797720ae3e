//! The operator's privacy tasks of `hs-admin` (docs/privacy.md): retention, which erases the
//! messages older than the clinic's period except those under a legal hold, and key rotation,
//! which rewraps every live data key under a new key-encryption key without touching the log.

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use command_service::erasure::erase;
use command_service::{CommitSignal, EventMetadata, ExecuteError, Writer};
use events::{Directory, MessageError, Role};
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;
use uuid::Uuid;

/// `30d`, `12w`, `7y` (a year is 365 days): how old a message must be for retention.
pub fn parse_duration(text: &str) -> Result<chrono::Duration, String> {
    let bad = || {
        format!("`{text}` is not a DURATION: a number of days, weeks or years, like 30d, 12w or 7y")
    };
    let text = text.trim();
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let number: i64 = number.parse().map_err(|_| bad())?;
    let days = match unit {
        "d" => number,
        "w" => number.checked_mul(7).ok_or_else(bad)?,
        "y" => number.checked_mul(365).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if !(0..=365 * 200).contains(&days) {
        return Err(bad());
    }
    Ok(chrono::Duration::days(days))
}

/// What retention is asked to do.
#[derive(Debug)]
pub struct Retention {
    pub older_than: chrono::Duration,
    /// The administrator recorded as having erased (`erased_by`, the events' actor).
    pub admin: String,
    pub dry_run: bool,
}

const PAGE: i64 = 500;

/// Candidates: live, not held, sent before `cutoff` (the `messages` read table, by `sent_at`),
/// after the keyset (`$2`, `$3`), oldest first. The aggregate decides each erasure again, so a
/// read table that lags only makes a candidate be skipped, never erased wrongly.
const CANDIDATES: &str = "
SELECT id, sent_at FROM messages
WHERE sent_at < $1 AND erased_at IS NULL AND NOT held AND (sent_at, id) > ($2, $3)
ORDER BY sent_at, id
LIMIT $4";

const COUNTS: &str = "
SELECT count(*) FILTER (WHERE NOT held), count(*) FILTER (WHERE held)
FROM messages WHERE sent_at < $1 AND erased_at IS NULL";

/// Runs retention; writes its summary to `out`.
pub async fn retention(pool: &PgPool, task: Retention, out: &mut impl Write) -> anyhow::Result<()> {
    let directory = accounts::PgDirectory::new(pool.clone());
    let admin = directory
        .find_user(&task.admin)
        .await
        .context("cannot read the users")?;
    if !admin.is_some_and(|user| user.role == Role::Admin) {
        bail!(
            "`{}` is not an administrator (--as names the administrator responsible)",
            task.admin
        );
    }
    let cutoff: DateTime<Utc> = Utc::now() - task.older_than;
    let (due, held): (i64, i64) = sqlx::query_as(COUNTS)
        .bind(cutoff.naive_utc())
        .fetch_one(pool)
        .await?;
    if task.dry_run {
        writeln!(
            out,
            "dry run: {due} messages sent before {} would be erased; {held} under a legal hold are kept",
            cutoff.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )?;
        return Ok(());
    }
    let writer = Writer {
        directory: std::sync::Arc::new(directory),
        signal: CommitSignal::relay_to_postgres(pool.clone(), Duration::from_millis(10)),
        pool: pool.clone(),
    };
    let run = format!("retention:{}", Uuid::new_v4());
    let metadata = EventMetadata::operator(&task.admin, &run);
    let reason = format!(
        "retention: sent before {} (older than the retention period)",
        cutoff.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let bar = ProgressBar::new(u64::try_from(due).unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template(
            "erasing [{bar:40}] {pos}/{len} messages ({per_sec}, eta {eta})",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (mut erased, mut skipped) = (0u64, 0u64);
    let mut after = (DateTime::<Utc>::UNIX_EPOCH.naive_utc(), Uuid::nil());
    loop {
        let page: Vec<(Uuid, chrono::NaiveDateTime)> = sqlx::query_as(CANDIDATES)
            .bind(cutoff.naive_utc())
            .bind(after.0)
            .bind(after.1)
            .bind(PAGE)
            .fetch_all(pool)
            .await?;
        let Some(last) = page.last() else { break };
        after = (last.1, last.0);
        for (id, _) in &page {
            match erase(&writer, *id, &task.admin, reason.clone(), &metadata).await {
                Ok(_) => erased += 1,
                // Held or erased since the read table was read: the log decides.
                Err(ExecuteError::Domain(
                    MessageError::UnderHold | MessageError::AlreadyErased,
                )) => skipped += 1,
                Err(err) => {
                    bar.abandon();
                    bail!("erasing {id} failed after {erased} erasures: {err} (run it again to continue)");
                }
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    writeln!(
        out,
        "erased {erased} messages sent before {}; skipped {skipped} (held or erased meanwhile); {held} under a legal hold kept",
        cutoff.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )?;
    Ok(())
}

/// Rewraps every live data key under KEK `to` (of `HS_KEK_FILE`), `batch` keys per transaction;
/// resumable (run it again after an interruption); writes its summary to `out`.
pub async fn rotate(
    pool: &PgPool,
    to: &str,
    batch: i64,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let vault = vault::process()?;
    let Some(keyring) = vault.keyring() else {
        bail!("HS_ENCRYPTION=off: there are no keys to rotate to");
    };
    if !keyring.has(to) {
        bail!("HS_KEK_FILE holds no key `{to}`; add it (first, to make it the active key) and run again");
    }
    vault::store::check(pool, keyring).await?;
    vault::store::register(pool, keyring, to).await?;
    if keyring.active() != to {
        writeln!(
            out,
            "note: new data keys are still wrapped by `{}`, the file's first key; put `{to}` first and restart the services",
            keyring.active()
        )?;
    }
    let remaining = vault::store::rotation_remaining(pool, to).await?.remaining;
    let bar = ProgressBar::new(u64::try_from(remaining).unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template(
            "rewrapping [{bar:40}] {pos}/{len} data keys ({per_sec}, eta {eta})",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut done = 0u64;
    let mut after = Uuid::nil();
    loop {
        let step = vault::store::rotate_batch(pool, keyring, to, after, batch).await?;
        done += step.rewrapped;
        bar.inc(step.rewrapped);
        match step.next {
            Some(next) => after = next,
            None => break,
        }
    }
    bar.finish_and_clear();
    let left = vault::store::rotation_remaining(pool, to).await?.remaining;
    writeln!(
        out,
        "rewrapped {done} data keys under `{to}`; {left} remain under other keys"
    )?;
    Ok(())
}
