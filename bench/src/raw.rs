//! The same work done by PostgreSQL alone, in the same run: pgbench appending one event row per
//! transaction at each send concurrency, pgbench running each read's SQL at each query
//! concurrency, and the set-based replay.

use crate::data::Population;
use crate::database::BenchDatabase;
use crate::drivers::{measure_drivers, DriverComparison};
use crate::error::BenchResult;
use crate::measurement::Measurement;
use crate::options::BenchOptions;
use crate::pgbench::{self, Pgbench};
use crate::progress::Progress;
use crate::raw_replay::raw_replay;
use crate::raw_sql;
use crate::replay::ReplayFigure;
use crate::report::Outcome;
use crate::runner::StepTiming;
use crate::scenarios::queries::{Probe, QueryKind};
use crate::service::summary;

/// Every raw figure of a run.
#[derive(Debug, Clone)]
pub struct RawFigures {
    pub appends: Vec<(usize, Outcome<Measurement>)>,
    pub reads: Vec<(QueryKind, usize, Outcome<Measurement>)>,
    pub replay: Outcome<ReplayFigure>,
    /// The read statements through tokio-postgres and through sqlx (see [`crate::drivers`]).
    pub drivers: Vec<DriverComparison>,
}

impl RawFigures {
    /// The append figure at `clients`.
    pub fn append(&self, clients: usize) -> Outcome<Measurement> {
        self.appends
            .iter()
            .find(|(c, _)| *c == clients)
            .map(|(_, m)| m.clone())
            .unwrap_or_else(|| Outcome::unavailable("not run"))
    }

    /// The read figure of `kind` at `clients`.
    pub fn read(&self, kind: QueryKind, clients: usize) -> Outcome<Measurement> {
        self.reads
            .iter()
            .find(|(k, c, _)| *k == kind && *c == clients)
            .map(|(_, _, m)| m.clone())
            .unwrap_or_else(|| Outcome::unavailable("not run"))
    }
}

/// Runs the raw side (after the gateway has stopped, so both sides had the machine alone).
pub async fn measure_raw(
    options: &BenchOptions,
    db: &BenchDatabase,
    population: &Population,
    probes: &[Probe],
    progress: &Progress,
    notes: &mut Vec<String>,
) -> BenchResult<RawFigures> {
    let spinner = progress.spinner("raw: set-based replay");
    let replay = match raw_replay(&db.pool).await {
        Ok(figure) => Outcome::measured(figure),
        Err(error) => Outcome::unavailable(format!("set-based replay failed: {error}")),
    };
    spinner.finish_and_clear();
    let Some(binary) = pgbench::locate(options.pgbench.as_deref()) else {
        notes.push(
            "pgbench not found: no raw figures (install postgresql or pass --pgbench)".into(),
        );
        return Ok(RawFigures {
            appends: Vec::new(),
            reads: Vec::new(),
            replay,
            drivers: Vec::new(),
        });
    };
    let spinner = progress.spinner("raw: preparing tables");
    raw_sql::prepare(&db.pool, probes, population).await?;
    spinner.finish_and_clear();
    let bench = Pgbench {
        binary,
        database_url: db.url.clone(),
        dir: options.out_dir.join("pgbench"),
    };
    let timing = StepTiming {
        warmup: options.warmup,
        measure: options.step,
    };
    let mut appends = Vec::new();
    for &clients in &options.send_clients {
        let bar = progress.spinner(&format!("raw append x{clients}"));
        let m = bench
            .run("append", &raw_sql::append_script(), clients, timing)
            .await;
        bar.finish_and_clear();
        log("raw append", &m);
        appends.push((clients, Outcome::from_result(m)));
    }
    let mut reads = Vec::new();
    for kind in QueryKind::ALL {
        for &clients in &options.query_clients {
            let bar = progress.spinner(&format!("raw {} x{clients}", kind.name()));
            let m = if clients > probes.len() {
                Err("fewer probes than clients".to_owned())
            } else {
                bench
                    .run(kind.name(), &raw_sql::read_script(kind), clients, timing)
                    .await
            };
            bar.finish_and_clear();
            log(&format!("raw {}", kind.name()), &m);
            reads.push((kind, clients, Outcome::from_result(m)));
        }
    }
    let clients = options.driver_clients;
    let drivers = if clients > probes.len() {
        notes.push("drivers: fewer probes than clients, not measured".into());
        Vec::new()
    } else {
        measure_drivers(&db.url, probes, clients, timing, progress).await?
    };
    Ok(RawFigures {
        appends,
        reads,
        replay,
        drivers,
    })
}

fn log(name: &str, m: &Result<Measurement, String>) {
    match m {
        Ok(m) => eprintln!("bench: {}", summary(name, m)),
        Err(why) => eprintln!("bench: {name}: {why}"),
    }
}
