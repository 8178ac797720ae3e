//! The service side of a run: the gateway started, its projections caught up, the clients
//! logged in, then every send and query step and the projection lag, with the gateway's memory
//! sampled after each phase.

use std::sync::Arc;
use std::time::Duration;

use crate::client::Session;
use crate::data::Population;
use crate::database::BenchDatabase;
use crate::error::BenchResult;
use crate::gateway::{GatewayConfig, GatewayProcess};
use crate::measurement::Measurement;
use crate::options::BenchOptions;
use crate::progress::Progress;
use crate::replay;
use crate::report::Outcome;
use crate::runner::StepTiming;
use crate::scenarios::lag::{measure_lag, LagFigure, LagPlan};
use crate::scenarios::queries::{check_available, measure_query, Probe, QueryKind};
use crate::scenarios::{login_all, sends};

/// The service's figures of one run, before the raw side.
pub struct ServiceFigures {
    pub sends: Vec<(usize, Measurement)>,
    pub queries: Vec<(QueryKind, usize, Result<Measurement, String>)>,
    pub lag: Outcome<LagFigure>,
    pub peak_rss: Outcome<u64>,
    pub rss: Vec<(String, u64)>,
}

pub async fn measure_service(
    options: &BenchOptions,
    db: &BenchDatabase,
    population: &Population,
    probes: &[Probe],
    notes: &mut Vec<String>,
) -> BenchResult<ServiceFigures> {
    let config = GatewayConfig {
        binary: options.bin_dir.join("gateway"),
        database_url: db.url.clone(),
        log_file: options.out_dir.join("gateway.log"),
        rust_log: options.service_log.clone(),
        db_pool_max: options.db_pool_max,
    };
    let gateway = GatewayProcess::start(&config).await?;
    eprintln!(
        "bench: gateway pid {} on 127.0.0.1:{}",
        gateway.pid, gateway.port
    );
    if let Some(note) = &gateway.readiness_note {
        notes.push(note.clone());
    }
    let steps = service_steps(options, &db.pool, &gateway, population, probes, notes).await;
    let peak = gateway.peak_rss_bytes();
    gateway.stop().await?;
    let steps = steps?;
    Ok(ServiceFigures {
        sends: steps.sends,
        queries: steps.queries,
        lag: steps.lag,
        rss: steps.rss,
        peak_rss: match peak {
            Some(bytes) => Outcome::measured(bytes),
            None => Outcome::unavailable("/proc/PID/status not readable"),
        },
    })
}

struct Steps {
    sends: Vec<(usize, Measurement)>,
    queries: Vec<(QueryKind, usize, Result<Measurement, String>)>,
    lag: Outcome<LagFigure>,
    /// The gateway's resident memory after each phase.
    rss: Vec<(String, u64)>,
}

async fn service_steps(
    options: &BenchOptions,
    pool: &sqlx::PgPool,
    gateway: &GatewayProcess,
    population: &Population,
    probes: &[Probe],
    notes: &mut Vec<String>,
) -> BenchResult<Steps> {
    let progress = Progress {
        enabled: options.progress,
    };
    let spinner = progress.spinner("projections catching up");
    if !replay::wait_for_catch_up(pool, Duration::from_secs(600)).await? {
        notes.push(
            "the projections had not caught up with the log when the queries were measured".into(),
        );
    }
    spinner.finish_and_clear();
    let mut rss = Vec::new();
    let mut sample = |phase: &str| {
        if let Some(bytes) = gateway.rss_bytes() {
            rss.push((phase.to_owned(), bytes));
        }
    };
    sample("started, projections caught up");
    let timing = StepTiming {
        warmup: options.warmup,
        measure: options.step,
    };
    let spinner = progress.spinner("logging clients in");
    let senders = login_all(
        gateway.port,
        sends::sender_names(population, options.max_send_clients()),
    )
    .await?;
    let readers = login_all(
        gateway.port,
        probes.iter().map(|p| p.username.clone()).collect(),
    )
    .await?;
    spinner.finish_and_clear();
    sample("clients logged in");
    let mut send_figures = Vec::new();
    for &clients in &options.send_clients {
        let bar = progress.timed(&format!("send x{clients}"));
        let m = sends::measure_sends(&senders, population, clients, timing, &bar).await;
        bar.finish_and_clear();
        eprintln!("bench: {}", summary("send", &m));
        send_figures.push((clients, m));
    }
    sample("after the sends");
    // The statistics the query steps of both sides run with (autovacuum is off from here).
    sqlx::raw_sql("ANALYZE").execute(pool).await?;
    let query_figures = measure_queries(options, &readers, probes, timing, progress).await;
    sample("after the queries");
    let bar = progress.timed("projection lag");
    let plan = LagPlan {
        duration: options.lag_duration,
        send_rate: options.lag_send_rate,
        probes: options.lag_probes,
    };
    let lag = measure_lag(gateway.port, &senders, population, plan, &bar).await?;
    bar.finish_and_clear();
    sample("after the lag measurement");
    Ok(Steps {
        sends: send_figures,
        queries: query_figures,
        lag: Outcome::from_result(lag),
        rss,
    })
}

async fn measure_queries(
    options: &BenchOptions,
    readers: &[Arc<Session>],
    probes: &[Probe],
    timing: StepTiming,
    progress: Progress,
) -> Vec<(QueryKind, usize, Result<Measurement, String>)> {
    let mut figures = Vec::new();
    for kind in QueryKind::ALL {
        let available = match (readers.first(), probes.first()) {
            (Some(session), Some(probe)) => check_available(session, kind, probe).await,
            _ => Err("no user with messages to query as".into()),
        };
        for &clients in &options.query_clients {
            let figure = match &available {
                Ok(()) => {
                    let bar = progress.timed(&format!("{} x{clients}", kind.name()));
                    let m = measure_query(readers, probes, kind, clients, timing, &bar).await;
                    bar.finish_and_clear();
                    eprintln!("bench: {}", summary(kind.name(), &m));
                    Ok(m)
                }
                Err(why) => Err(why.clone()),
            };
            figures.push((kind, clients, figure));
        }
    }
    figures
}

/// One line per step on stderr while the run goes on.
pub fn summary(name: &str, m: &Measurement) -> String {
    format!(
        "{name} x{}: {:.0}/s, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, {} errors{}",
        m.clients,
        m.throughput,
        m.p50_ms,
        m.p95_ms,
        m.p99_ms,
        m.errors,
        m.first_error
            .as_deref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    )
}
