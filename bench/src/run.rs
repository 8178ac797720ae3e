//! One whole run: a fresh database, the generated data, the replay, the gateway and every
//! service step, then the same work by PostgreSQL alone, and the report.

use std::time::{Duration, Instant};

use chrono::Utc;

use crate::data::{self, Population};
use crate::database::BenchDatabase;
use crate::error::{BenchError, BenchResult};
use crate::options::BenchOptions;
use crate::progress::Progress;
use crate::raw::{self, RawFigures};
use crate::replay::{self, ReplayFigure};
use crate::report::{
    Comparison, DataFigure, EncryptionCost, Machine, Outcome, Report, StandbyFigure,
};
use crate::scenarios::queries;
use crate::service::{measure_service, ServiceFigures};

/// Runs the benchmark described by `options`; `command` is recorded in the report.
/// The benchmark database is dropped at the end unless `keep_database` is set.
pub async fn run(options: &BenchOptions, command: &str) -> BenchResult<Report> {
    options.validate()?;
    std::fs::create_dir_all(&options.out_dir)?;
    let started = Instant::now();
    let started_at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let load_at_start = crate::machine::load_average();
    let busy_at_start = crate::machine::cpu_busy_percent(Duration::from_secs(1)).await;
    let db = BenchDatabase::create(&options.server_url).await?;
    eprintln!("bench: database {} created", db.name);
    let result = measure_all(
        options,
        &db,
        command,
        started_at,
        load_at_start,
        busy_at_start,
    )
    .await;
    let name = db.name.clone();
    if options.keep_database {
        eprintln!("bench: database {name} kept");
    } else {
        let dropped = db.drop_database().await;
        if let Err(error) = dropped {
            eprintln!("bench: could not drop database {name}: {error}");
        }
    }
    let mut report = result?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

async fn measure_all(
    options: &BenchOptions,
    db: &BenchDatabase,
    command: &str,
    started_at: String,
    load_at_start: String,
    busy_at_start: Option<f64>,
) -> BenchResult<Report> {
    let progress = Progress {
        enabled: options.progress,
    };
    let mut notes = Vec::new();
    if let Some(busy) = busy_at_start.filter(|b| *b > 25.0) {
        notes.push(format!(
            "the machine was busy when the run started ({busy:.0}% of the CPUs in use by other \
             work, load average {load_at_start}): other work lowers every figure"
        ));
    }
    crate::database::migrate(&options.bin_dir.join("hs-admin"), &db.url).await?;
    // The history is sealed as the command side seals it (HS_KEK_FILE; HS_ENCRYPTION=off: not).
    let vault = vault::check_at_start(&db.pool)
        .await
        .map_err(|e| BenchError::Other(format!("message keys: {e}")))?;
    let sealing = vault.enabled().then(|| vault.clone());
    let population = Population::new(options.users, options.lag_probes as u32);
    let users = data::create_users(&db.pool, &population).await?;
    let bar = progress.count("load: generate + COPY", options.messages);
    let load = data::load_events(
        &db.pool,
        &population,
        options.messages,
        options.seed,
        sealing,
        &bar,
    )
    .await?;
    bar.finish_and_clear();
    eprintln!(
        "bench: loaded {} messages as {} events in {:.1} s",
        load.messages, load.events, load.seconds
    );
    sqlx::raw_sql("ANALYZE events").execute(&db.pool).await?;
    let horizon_note = "a transaction left open on this PostgreSQL server (in any database) \
        holds the snapshot horizon below the loaded log, so projectors could not see all of it; \
        run the benchmark on a server of its own (bench/run.sh without DATABASE_URL)";
    if !replay::wait_for_horizon(&db.pool, options.horizon_wait).await? {
        notes.push(horizon_note.into());
    }
    let spinner = progress.spinner("replay: projector rebuild --all");
    let replay = replay::rebuild_all(
        &options.bin_dir.join("projector"),
        &db.url,
        &db.pool,
        &options.service_log,
        &options.out_dir.join("projector-rebuild.log"),
    )
    .await?;
    spinner.finish_and_clear();
    let replay = match replay {
        Ok(mut figure) => {
            let applied = replay::least_applied(&db.pool).await?;
            if applied < figure.events {
                notes.push(format!(
                    "the rebuild replayed {applied} of {} events: {horizon_note}",
                    figure.events
                ));
                figure.events = applied;
                figure.events_per_second = applied as f64 / figure.seconds.max(1e-9);
            }
            Ok(figure)
        }
        Err(why) => Err(why),
    };
    match &replay {
        Ok(r) => eprintln!(
            "bench: replayed {} events in {:.1} s ({:.0} events/s)",
            r.events, r.seconds, r.events_per_second
        ),
        Err(why) => eprintln!("bench: replay not measured: {why}"),
    }
    let plain_replay = if vault.enabled() {
        let spinner = progress.spinner("replay of the same history, not sealed");
        let figure = replay_not_sealed(options, &population).await;
        spinner.finish_and_clear();
        figure
    } else {
        Err("encryption is off in this run (HS_ENCRYPTION=off)".into())
    };
    crate::database::settle(&db.pool).await?;
    let probes = queries::pick_probes(
        &population,
        &load.activity,
        options.max_query_clients(),
        options.seed,
    );
    let service = measure_service(options, db, &population, &probes, &mut notes).await?;
    let raw = raw::measure_raw(options, db, &population, &probes, &progress, &mut notes).await?;
    let mut machine = machine(db, options).await?;
    machine.load_average_at_start = load_at_start;
    machine.cpu_busy_percent_at_start = busy_at_start;
    Ok(assemble(
        options,
        command,
        started_at,
        db,
        machine,
        users,
        &population,
        load,
        replay,
        plain_replay,
        service,
        raw,
        notes,
    ))
}

/// The replay of the same generated history without sealing, in a database of its own (created,
/// loaded, rebuilt and dropped here): the figure beside which the sealed replay is judged.
async fn replay_not_sealed(
    options: &BenchOptions,
    population: &Population,
) -> Result<ReplayFigure, String> {
    let db = BenchDatabase::create(&options.server_url)
        .await
        .map_err(|e| e.to_string())?;
    let figure = async {
        crate::database::migrate(&options.bin_dir.join("hs-admin"), &db.url)
            .await
            .map_err(|e| e.to_string())?;
        data::create_users(&db.pool, population)
            .await
            .map_err(|e| e.to_string())?;
        let hidden = indicatif::ProgressBar::hidden();
        data::load_events(
            &db.pool,
            population,
            options.messages,
            options.seed,
            None,
            &hidden,
        )
        .await
        .map_err(|e| e.to_string())?;
        sqlx::raw_sql("ANALYZE events")
            .execute(&db.pool)
            .await
            .map_err(|e| e.to_string())?;
        replay::wait_for_horizon(&db.pool, options.horizon_wait)
            .await
            .map_err(|e| e.to_string())?;
        replay::rebuild_all(
            &options.bin_dir.join("projector"),
            &db.url,
            &db.pool,
            &options.service_log,
            &options.out_dir.join("projector-rebuild-plain.log"),
        )
        .await
        .map_err(|e| e.to_string())?
    }
    .await;
    if let Err(error) = db.drop_database().await {
        eprintln!("bench: could not drop the plain replay's database: {error}");
    }
    match &figure {
        Ok(r) => eprintln!(
            "bench: replayed the history not sealed: {} events in {:.1} s ({:.0} events/s)",
            r.events, r.seconds, r.events_per_second
        ),
        Err(why) => eprintln!("bench: the plain replay was not measured: {why}"),
    }
    figure
}

async fn machine(db: &BenchDatabase, options: &BenchOptions) -> BenchResult<Machine> {
    let postgres: String = sqlx::query_scalar("SELECT version()")
        .fetch_one(&db.pool)
        .await?;
    let mut settings = Vec::new();
    for name in [
        "fsync",
        "synchronous_commit",
        "shared_buffers",
        "max_connections",
    ] {
        let value: String = sqlx::query_scalar("SELECT current_setting($1)")
            .bind(name)
            .fetch_one(&db.pool)
            .await?;
        settings.push((name.to_owned(), value));
    }
    Ok(Machine {
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        postgres,
        postgres_settings: settings,
        gateway_pool_max: options
            .db_pool_max
            .map_or("default".into(), |n| n.to_string()),
        gateway_env: options
            .gateway_env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        load_average_at_start: String::new(),
        cpu_busy_percent_at_start: None,
        load_average_at_end: crate::machine::load_average(),
    })
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    options: &BenchOptions,
    command: &str,
    started_at: String,
    db: &BenchDatabase,
    machine: Machine,
    users: u64,
    population: &Population,
    load: data::LoadReport,
    replay: Result<ReplayFigure, String>,
    plain_replay: Result<ReplayFigure, String>,
    service: ServiceFigures,
    raw: RawFigures,
    notes: Vec<String>,
) -> Report {
    let encryption = match (&service.send_off, &service.send_on, &replay, &plain_replay) {
        (Ok((clients, off)), Ok((_, on)), Ok(replay_on), Ok(replay_off)) => {
            Outcome::measured(EncryptionCost {
                send_clients: *clients,
                send_on: on.clone(),
                send_off: off.clone(),
                replay_on: replay_on.clone(),
                replay_off: replay_off.clone(),
            })
        }
        (Err(why), _, _, _) | (_, Err(why), _, _) | (_, _, Err(why), _) | (_, _, _, Err(why)) => {
            Outcome::unavailable(why.clone())
        }
    };
    let standby = match &service.standby_queries {
        Ok(figures) => Outcome::measured(
            figures
                .iter()
                .map(|(kind, clients, m)| StandbyFigure {
                    query: kind.name().to_owned(),
                    clients: *clients,
                    standby: Outcome::from_result(m.clone()),
                    primary: service
                        .queries
                        .iter()
                        .find(|(k, c, _)| k == kind && c == clients)
                        .map_or(
                            Outcome::unavailable("no such step on the primary"),
                            |(_, _, m)| Outcome::from_result(m.clone()),
                        ),
                })
                .collect(),
        ),
        Err(why) => Outcome::unavailable(why.clone()),
    };
    let sends = service
        .sends
        .into_iter()
        .map(|(clients, m)| {
            Comparison::new("send", clients, Outcome::measured(m), raw.append(clients))
        })
        .collect();
    let queries = service
        .queries
        .into_iter()
        .map(|(kind, clients, m)| {
            Comparison::new(
                kind.name(),
                clients,
                Outcome::from_result(m),
                raw.read(kind, clients),
            )
        })
        .collect();
    Report {
        started_at,
        command: command.to_owned(),
        database: if options.keep_database {
            format!("{} (kept)", db.name)
        } else {
            format!("{} (dropped at the end)", db.name)
        },
        machine,
        data: DataFigure {
            users,
            patients: population.patients,
            clinicians: population.clinicians,
            messages: load.messages,
            events: load.events,
            load_seconds: load.seconds,
            load_events_per_second: load.events as f64 / load.seconds.max(1e-9),
        },
        replay: Outcome::from_result(replay),
        raw_replay: raw.replay.clone(),
        encryption,
        standby,
        sends,
        queries,
        projection_lag: service.lag,
        notifications: service.notifications,
        login_flood: service.login_flood,
        http_floor: service.http_floor,
        drivers: raw.drivers.clone(),
        gateway_peak_rss_bytes: service.peak_rss,
        gateway_rss_bytes: service.rss,
        notes,
        seconds: 0.0,
    }
}
