//! `audit`: the auditors' command line — verify the chain, print its head, export a patient's
//! records. Reads `DATABASE_URL`. See `docs/audit.md`.
//!
//! Exit codes: 0 success (for `verify`: the trail is intact), 1 `verify` found tampering, 2 the
//! command could not run (bad arguments, database unreachable, ...), so that a scheduled check
//! can tell an alarm from an outage. A reader that closes the pipe early (`| head`) ends the
//! command quietly with 0.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use anyhow::{bail, Context};
use audit::export::{ExportRequest, Format};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{CommandFactory, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

/// The auditors' command line of Healing Space messaging: verify the audit trail's hash chain
/// against the event log, print its head for anchoring, export a patient's records.
#[derive(Debug, Parser)]
#[command(name = "audit", version)]
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
        /// An anchor taken earlier with `audit head`: POSITION:HEX_HASH. The chain must still
        /// hold that entry with that hash.
        #[arg(long, value_parser = parse_anchor)]
        anchor: Option<(i64, audit::ChainHash)>,
    },
    /// Print the chain's head (seq, position, hash) for anchoring outside the database.
    Head,
    /// Export a patient's audit entries and access-log entries.
    Export {
        /// The patient's username.
        #[arg(long)]
        patient: String,
        /// Start (inclusive): RFC 3339 time or YYYY-MM-DD. Before --to.
        #[arg(long, value_parser = parse_time)]
        from: Option<DateTime<Utc>>,
        /// End (exclusive): RFC 3339 time or YYYY-MM-DD.
        #[arg(long, value_parser = parse_time)]
        to: Option<DateTime<Utc>>,
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
    if let Command::Export {
        from: Some(from),
        to: Some(to),
        ..
    } = &cli.command
    {
        if from >= to {
            Cli::command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!("--from ({from}) must be before --to ({to})"),
                )
                .exit();
        }
    }
    match run(cli).await {
        Ok(code) => code,
        // The reader has gone (`audit export | head`): nothing left to say to anyone.
        Err(err) if closed_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("audit: {err:#}");
            ExitCode::from(FAILED)
        }
    }
}

/// Whether `err` comes from writing to a pipe whose reader has closed it.
fn closed_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let url = http_edge::DatabaseUrl(cli.database_url);
    let pool = http_edge::connect_pool(&url, 4).await?;
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Verify { anchor } => {
            let total: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
                .fetch_one(&pool)
                .await?;
            let progress = bar(total.max(0) as u64);
            let report = audit::verify::verify(&pool, anchor, |n| progress.set_position(n)).await?;
            progress.finish_and_clear();
            let mut intact = true;
            match report.problem {
                None => {
                    writeln!(out, "ok: {} entries verified", report.entries_checked)?;
                    if let Some((position, hash)) = report.head {
                        writeln!(out, "head: position {position} hash {}", hex::encode(hash))?;
                    }
                }
                Some(problem) => {
                    intact = false;
                    writeln!(out, "TAMPERED: {problem}")?;
                    writeln!(
                        out,
                        "({} entries verified before it)",
                        report.entries_checked
                    )?;
                }
            }
            // The access log has its own chain.
            let total: i64 = sqlx::query_scalar("SELECT count(*) FROM access_log")
                .fetch_one(&pool)
                .await?;
            let progress = bar(total.max(0) as u64);
            let access =
                audit::access_chain::verify_access_log(&pool, |n| progress.set_position(n)).await?;
            progress.finish_and_clear();
            match access.problem {
                None => {
                    writeln!(out, "ok: {} access-log rows verified", access.rows_checked)?;
                    if let Some((seq, hash)) = access.head {
                        writeln!(out, "access head: row {seq} hash {}", hex::encode(hash))?;
                    }
                }
                Some(problem) => {
                    intact = false;
                    writeln!(out, "TAMPERED: {problem}")?;
                    writeln!(
                        out,
                        "({} access-log rows verified before it)",
                        access.rows_checked
                    )?;
                }
            }
            Ok(if intact {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Head => {
            match audit::verify::head(&pool).await? {
                Some((seq, position, hash)) => {
                    writeln!(
                        out,
                        "seq {seq} position {position} hash {}",
                        hex::encode(hash)
                    )?;
                    writeln!(out, "anchor: {position}:{}", hex::encode(hash))?;
                }
                None => writeln!(out, "the audit log is empty")?,
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
                from: from.unwrap_or_else(audit::export::earliest),
                to: to.unwrap_or_else(audit::export::latest),
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
                    let mut out = BufWriter::new(out);
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
