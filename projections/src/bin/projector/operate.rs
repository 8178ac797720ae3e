//! The operator commands' output: the status table, progress bars, the verify diff summary.

use std::io::Write;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use projections::operator::{self, ReplayProgress};
use projections::Projection;
use sqlx::PgPool;

use crate::Select;

pub(crate) async fn status(pool: &PgPool) -> anyhow::Result<ExitCode> {
    let now = chrono::Utc::now();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<10} {:<24} {:>10} {:>8} {:>9} {:<8} updated",
        "projection", "checkpoint", "applied", "pending", "lag", "leader"
    )?;
    for s in operator::status(pool).await? {
        let lag = s
            .oldest_pending_at
            .map(|t| {
                format!(
                    "{:.1}s",
                    (now - t).num_milliseconds().max(0) as f64 / 1000.0
                )
            })
            .unwrap_or_else(|| "0s".into());
        writeln!(
            out,
            "{:<10} {:<24} {:>10} {:>8} {:>9} {:<8} {}",
            s.projection,
            s.position.to_string(),
            s.events_applied,
            s.pending,
            lag,
            if s.leader_active { "running" } else { "none" },
            s.updated_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn progress_bar(action: &str, projection: Projection) -> ProgressBar {
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template(
        "{msg:20} [{bar:40}] {pos}/{len} events ({per_sec}, eta {eta})",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(format!("{action} {projection}"));
    bar
}

fn update(bar: &ProgressBar) -> impl Fn(ReplayProgress) + '_ {
    move |p: ReplayProgress| {
        bar.set_length(p.total);
        bar.set_position(p.done);
    }
}

pub(crate) async fn rebuild(
    pool: &PgPool,
    select: &Select,
    batch: u32,
) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    for projection in select.projections() {
        let bar = progress_bar("rebuild", projection);
        let report = operator::rebuild(pool, projection, batch, &update(&bar)).await?;
        bar.finish_and_clear();
        writeln!(
            out,
            "{projection}: rebuilt from {} events and swapped in at {}",
            report.events_applied, report.position
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn verify(pool: &PgPool, select: &Select, batch: u32) -> anyhow::Result<ExitCode> {
    let mut clean = true;
    let mut out = std::io::stdout().lock();
    for projection in select.projections() {
        let bar = progress_bar("verify", projection);
        let report = operator::verify(pool, projection, batch, &update(&bar)).await?;
        bar.finish_and_clear();
        let verdict = if report.is_clean() { "ok" } else { "DIFFERS" };
        writeln!(out, "{projection} at {}: {verdict}", report.position)?;
        for t in &report.tables {
            writeln!(
                out,
                "  {:<16} live {:>8} rows, rebuilt {:>8} rows, only live {:>6}, only rebuilt {:>6}",
                t.table, t.live_rows, t.rebuilt_rows, t.only_live, t.only_rebuilt
            )?;
            if !t.sample_keys.is_empty() {
                writeln!(
                    out,
                    "    differing rows, e.g.: {}",
                    t.sample_keys.join(", ")
                )?;
            }
        }
        clean &= report.is_clean();
    }
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
