//! `audit`: the auditors' command line — verify the chain, print its head, export a patient's
//! records. Reads `DATABASE_URL`. See `docs/audit.md`.
//!
//! Exit codes: 0 success (for `verify`: the trail is intact), 1 `verify` found tampering, 2 the
//! command could not run (bad arguments, database unreachable, ...), so that a scheduled check
//! can tell an alarm from an outage.

use std::io::BufWriter;
use std::process::ExitCode;

use anyhow::{bail, Context};
use audit::export::{ExportRequest, Format};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;

/// Audit trail tools of Healing Space messaging.
#[derive(Debug, Parser)]
#[command(name = "audit", version, about)]
struct Cli {
    /// PostgreSQL URL of the event store and read tables.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Recompute the hash chain from the event log and compare it with the audit log.
    /// Exit code 1 and the first bad position when they differ.
    Verify {
        /// An anchor taken earlier with `audit head`: POSITION:HEX_HASH.
        #[arg(long)]
        anchor: Option<String>,
    },
    /// Print the chain's head (seq, position, hash) for anchoring outside the database.
    Head,
    /// Export a patient's audit entries and access-log entries.
    Export {
        /// The patient's username.
        #[arg(long)]
        patient: String,
        /// Start (inclusive): RFC 3339 time or YYYY-MM-DD.
        #[arg(long)]
        from: Option<String>,
        /// End (exclusive): RFC 3339 time or YYYY-MM-DD.
        #[arg(long)]
        to: Option<String>,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: Format,
        /// Write here instead of standard output.
        #[arg(long)]
        output: Option<std::path::PathBuf>,
    },
}

fn parse_time(text: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .with_context(|| format!("`{text}` is neither RFC 3339 nor YYYY-MM-DD"))?;
    Ok(day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

fn parse_anchor(text: &str) -> anyhow::Result<(i64, audit::ChainHash)> {
    let Some((position, hash)) = text.split_once(':') else {
        bail!("an anchor is POSITION:HEX_HASH");
    };
    let bytes = hex::decode(hash).context("the hash is not hexadecimal")?;
    let hash = audit::chain::hash_from_bytes(&bytes).context("the hash is not 32 bytes")?;
    Ok((position.parse().context("bad position")?, hash))
}

fn bar(length: u64) -> ProgressBar {
    let bar = ProgressBar::new(length);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Exit code when the command could not run.
const FAILED: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("audit: {err:#}");
            ExitCode::from(FAILED)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let pool = PgPool::connect(&cli.database_url)
        .await
        .context("cannot connect to the database")?;
    match cli.command {
        Command::Verify { anchor } => {
            let anchor = anchor.as_deref().map(parse_anchor).transpose()?;
            let total: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
                .fetch_one(&pool)
                .await?;
            let progress = bar(total.max(0) as u64);
            let report = audit::verify::verify(&pool, anchor, |n| progress.set_position(n)).await?;
            progress.finish_and_clear();
            match report.problem {
                None => {
                    println!("ok: {} entries verified", report.entries_checked);
                    if let Some((position, hash)) = report.head {
                        println!("head: position {position} hash {}", hex::encode(hash));
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Some(problem) => {
                    println!("TAMPERED: {problem}");
                    println!("({} entries verified before it)", report.entries_checked);
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Head => {
            match audit::verify::head(&pool).await? {
                Some((seq, position, hash)) => {
                    println!("seq {seq} position {position} hash {}", hex::encode(hash));
                    println!("anchor: {position}:{}", hex::encode(hash));
                }
                None => println!("the audit log is empty"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Export {
            patient,
            from,
            to,
            format,
            output,
        } => {
            let request = ExportRequest {
                patient,
                from: from
                    .as_deref()
                    .map(parse_time)
                    .transpose()?
                    .unwrap_or_else(audit::export::earliest),
                to: to
                    .as_deref()
                    .map(parse_time)
                    .transpose()?
                    .unwrap_or_else(audit::export::latest),
                format,
            };
            let total = audit::export::count(&pool, &request).await?;
            let progress = bar(total);
            let written = match output {
                Some(path) => {
                    let file = std::fs::File::create(&path)
                        .with_context(|| format!("cannot create {}", path.display()))?;
                    let mut out = BufWriter::new(file);
                    audit::export::export(&pool, &request, &mut out, |n| progress.set_position(n))
                        .await?
                }
                None => {
                    progress.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                    let mut out = BufWriter::new(std::io::stdout().lock());
                    audit::export::export(&pool, &request, &mut out, |n| progress.set_position(n))
                        .await?
                }
            };
            progress.finish_and_clear();
            eprintln!("{written} entries exported");
            Ok(ExitCode::SUCCESS)
        }
    }
}
