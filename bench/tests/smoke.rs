//! Smoke run of the whole harness at a tiny size: a fresh database on `DATABASE_URL`'s server,
//! the generated history, `projector rebuild --all`, the `gateway` binary, every step, pgbench
//! and the report. No timing is asserted (benchmarks are not tests); only that every figure was
//! measured without errors.
//!
//! It uses the debug `gateway`, `hs-admin` and `projector` binaries beside this test's folder
//! (`cargo nextest run --workspace` builds them, as both packages have integration tests) and
//! builds them when they are missing.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use bench::{table, BenchOptions, Report};

/// QUERY SIDE OF THE SMOKE TEST. While the query endpoints (inbox, sent, conversation, search)
/// are not served by the gateway, their figures and the projection lag are reported as
/// unavailable and only checked to be reported so. Set this to `true` once `query-service` is
/// wired into the gateway: from then on every query step and the lag must be measured.
const QUERY_ENDPOINTS_SERVED: bool = true;

fn debug_bin_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/debug/deps/smoke-<hash> → target/debug
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .context("no target folder")?
        .to_path_buf();
    let missing = ["gateway", "hs-admin", "projector"]
        .iter()
        .any(|bin| !dir.join(bin).is_file());
    if missing {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-p", "gateway", "-p", "projections", "--bins"])
            .status()?;
        if !status.success() {
            bail!("cannot build the gateway and projector binaries");
        }
    }
    Ok(dir)
}

fn check_measured(report: &Report) -> anyhow::Result<()> {
    if report.data.events <= report.data.messages {
        bail!("the load wrote {} events", report.data.events);
    }
    if report.replay.value.is_none() {
        bail!("replay not measured: {:?}", report.replay.unavailable);
    }
    if report.raw_replay.value.is_none() {
        bail!(
            "raw replay not measured: {:?}",
            report.raw_replay.unavailable
        );
    }
    if report.gateway_peak_rss_bytes.value.is_none() {
        bail!("no peak memory");
    }
    for c in &report.sends {
        let Some(s) = &c.service.value else {
            bail!("send x{} not measured", c.clients);
        };
        if s.requests == 0 || s.errors > 0 {
            bail!("send x{}: {s:?}", c.clients);
        }
        let Some(raw) = &c.raw.value else {
            bail!(
                "raw append x{} not measured: {:?}",
                c.clients,
                c.raw.unavailable
            );
        };
        if raw.requests == 0 {
            bail!("raw append x{}: nothing", c.clients);
        }
    }
    for c in &report.queries {
        match &c.raw.value {
            Some(raw) if raw.requests > 0 => {}
            _ => bail!("raw {} x{}: {:?}", c.figure, c.clients, c.raw),
        }
    }
    Ok(())
}

fn check_query_side(report: &Report) -> anyhow::Result<()> {
    for c in &report.queries {
        if QUERY_ENDPOINTS_SERVED {
            match &c.service.value {
                Some(s) if s.requests > 0 && s.errors == 0 => {}
                _ => bail!("{} x{}: {:?}", c.figure, c.clients, c.service),
            }
        } else if c.service.value.is_none() && c.service.unavailable.is_none() {
            bail!(
                "{} x{} neither measured nor reported missing",
                c.figure,
                c.clients
            );
        }
    }
    if report.projection_lag.len() != 3 {
        bail!("three lag conditions expected: {:?}", report.projection_lag);
    }
    for run in &report.projection_lag {
        if QUERY_ENDPOINTS_SERVED {
            match &run.figure.value {
                Some(lag) if lag.probes > 0 && lag.timeouts == 0 => {}
                _ => bail!("projection lag, {}: {:?}", run.condition, run.figure),
            }
        } else {
            eprintln!(
                "smoke: QUERY_ENDPOINTS_SERVED is false: lag only checked to be reported; {}: {:?}",
                run.condition, run.figure.unavailable
            );
        }
    }
    match &report.notifications.value {
        Some(n) if n.idle_streams > 0 && n.probes > 0 && n.timeouts == 0 => {}
        _ => bail!("notifications: {:?}", report.notifications),
    }
    match &report.login_flood.value {
        Some(f) if f.logins > 0 && f.rss_after_bytes > 0 => {}
        _ => bail!("login flood: {:?}", report.login_flood),
    }
    match &report.http_floor.value {
        Some(m) if m.requests > 0 && m.errors == 0 => {}
        _ => bail!("http floor: {:?}", report.http_floor),
    }
    if report.drivers.len() != 4 {
        bail!(
            "four reads through both drivers expected: {:?}",
            report.drivers
        );
    }
    for d in &report.drivers {
        match (&d.tokio_postgres.value, &d.sqlx.value) {
            (Some(t), Some(s)) if t.requests > 0 && s.requests > 0 && t.errors + s.errors == 0 => {}
            _ => bail!("drivers, {}: {:?}", d.figure, d),
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_run_measures_every_figure_and_writes_a_report() -> anyhow::Result<()> {
    let server = std::env::var("DATABASE_URL")
        .context("DATABASE_URL must name a PostgreSQL server where tests may create databases")?;
    let bin_dir = debug_bin_dir()?;
    let out = std::env::temp_dir().join(format!("hs-bench-smoke-{}", std::process::id()));
    let options = BenchOptions::tiny(server, bin_dir, out.clone());
    let report = bench::run(&options, "smoke test").await?;
    let text = table::render(&report);
    eprintln!("{text}");
    let json = serde_json::to_string(&report)?;
    assert!(json.contains("\"sends\""));
    assert!(text.contains("send"));
    check_measured(&report)?;
    check_query_side(&report)?;
    std::fs::remove_dir_all(&out).ok();
    Ok(())
}
