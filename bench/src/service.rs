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
use crate::scenarios::lag::{measure_lag, LagPlan, LagRun};
use crate::scenarios::notifications::{measure_notifications, NotificationFigure};
use crate::scenarios::queries::{
    check_available, measure_http_floor, measure_query, Probe, QueryKind,
};
use crate::scenarios::{login_all, login_flood, sends, LoginFlood};

/// Query steps: what was asked, by how many clients, and the measurement or why there is none.
pub type QueryFigures = Vec<(QueryKind, usize, Result<Measurement, String>)>;

/// The service's figures of one run, before the raw side.
pub struct ServiceFigures {
    pub sends: Vec<(usize, Measurement)>,
    pub queries: Vec<(QueryKind, usize, Result<Measurement, String>)>,
    pub lag: Vec<LagRun>,
    pub notifications: Outcome<NotificationFigure>,
    pub login_flood: Outcome<LoginFlood>,
    pub http_floor: Outcome<Measurement>,
    pub peak_rss: Outcome<u64>,
    pub rss: Vec<(String, u64)>,
    /// The send step at 16 clients again through two fresh gateways, one that does not seal
    /// (`HS_ENCRYPTION=off`) and then one that does: the encryption's cost, measured alike.
    pub send_off: Result<(usize, Measurement), String>,
    pub send_on: Result<(usize, Measurement), String>,
    /// The query steps through a hot standby (`QUERY_DATABASE_URL`), when one was given.
    pub standby_queries: Result<QueryFigures, String>,
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
        extra_env: options.gateway_env.clone(),
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
    let (send_off, send_on) = if vault::process().is_ok_and(|v| v.enabled()) {
        (
            send_fresh(options, &config, population, false).await,
            send_fresh(options, &config, population, true).await,
        )
    } else {
        let off = "encryption is off in this run (HS_ENCRYPTION=off)";
        (Err(off.into()), Err(off.into()))
    };
    let standby_queries = match &options.standby_url {
        Some(standby) => queries_through_standby(options, &config, db, standby, probes).await,
        None => Err("no standby (bench/run.sh starts one beside its private server)".into()),
    };
    Ok(ServiceFigures {
        sends: steps.sends,
        queries: steps.queries,
        lag: steps.lag,
        notifications: steps.notifications,
        login_flood: steps.login_flood,
        http_floor: steps.http_floor,
        rss: steps.rss,
        send_off,
        send_on,
        standby_queries,
        peak_rss: match peak {
            Some(bytes) => Outcome::measured(bytes),
            None => Outcome::unavailable("/proc/PID/status not readable"),
        },
    })
}

/// The send step at 16 clients through a freshly started gateway, sealing or not
/// (`HS_ENCRYPTION=off`; it still opens the sealed history with the same keys).
async fn send_fresh(
    options: &BenchOptions,
    config: &GatewayConfig,
    population: &Population,
    sealing: bool,
) -> Result<(usize, Measurement), String> {
    let label = if sealing { "sealed" } else { "not sealed" };
    let clients = options.send_clients.iter().copied().find(|&c| c == 16);
    let Some(clients) = clients.or(options.send_clients.first().copied()) else {
        return Err("no send step".into());
    };
    let mut config = config.clone();
    if !sealing {
        config
            .extra_env
            .push(("HS_ENCRYPTION".into(), "off".into()));
    }
    config.log_file = options
        .out_dir
        .join(format!("gateway-send-{}.log", label.replace(' ', "-")));
    let gateway = GatewayProcess::start(&config)
        .await
        .map_err(|e| e.to_string())?;
    let measured = async {
        let senders = login_all(
            gateway.port,
            sends::sender_names(population, options.max_send_clients()),
        )
        .await
        .map_err(|e| e.to_string())?;
        let timing = StepTiming {
            warmup: options.warmup,
            measure: options.step,
        };
        let progress = Progress {
            enabled: options.progress,
        };
        let bar = progress.timed(&format!("send x{clients}, {label}"));
        let m = sends::measure_sends(&senders, population, clients, timing, &bar).await;
        bar.finish_and_clear();
        eprintln!("bench: {}", summary(&format!("send, {label}"), &m));
        Ok((clients, m))
    }
    .await;
    let _ = gateway.stop().await;
    measured
}

/// The query steps through a gateway whose query side reads the standby: it waits until the
/// standby has replayed what the primary's projections hold, then measures every query kind.
async fn queries_through_standby(
    options: &BenchOptions,
    config: &GatewayConfig,
    db: &BenchDatabase,
    standby: &str,
    probes: &[Probe],
) -> Result<QueryFigures, String> {
    // bench/run.sh pauses the standby's replay until now, so that it takes no CPU from the
    // primary's steps; it replays the whole run first.
    let standby_admin =
        crate::database::with_database(standby, "postgres").map_err(|e| e.to_string())?;
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&standby_admin)
        .await
        .map_err(|e| format!("the standby does not answer: {e}"))?;
    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(&mut admin)
        .await
        .map_err(|e| e.to_string())?;
    let standby_db =
        crate::database::with_database(standby, &db.name).map_err(|e| e.to_string())?;
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    let replica = loop {
        match sqlx::PgPool::connect(&standby_db).await {
            Ok(pool) => break pool,
            Err(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(format!("the standby has no {}: {e}", db.name)),
        }
    };
    // Caught up: the standby's checkpoints equal the primary's.
    let checkpoints =
        "SELECT string_agg(projection || ':' || global_position, ',' ORDER BY projection)
                       FROM projection_checkpoints";
    let primary: Option<String> = sqlx::query_scalar(checkpoints)
        .fetch_one(&db.pool)
        .await
        .map_err(|e| e.to_string())?;
    loop {
        // While it replays the run, a query of the standby may be cancelled by a recovery
        // conflict (its feedback is off): ask again.
        let theirs: Result<Option<String>, _> =
            sqlx::query_scalar(checkpoints).fetch_one(&replica).await;
        if theirs.as_ref().is_ok_and(|t| *t == primary) {
            break;
        }
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "the standby did not catch up within 600 s (last answer: {theirs:?})"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    replica.close().await;
    // Caught up: from now on it runs as docs/deploy.md advises, with hot_standby_feedback.
    for statement in [
        "ALTER SYSTEM SET hot_standby_feedback = on",
        "SELECT pg_reload_conf()",
    ] {
        sqlx::query(statement)
            .execute(&mut admin)
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut config = config.clone();
    config
        .extra_env
        .push(("QUERY_DATABASE_URL".into(), standby_db.clone()));
    config.log_file = options.out_dir.join("gateway-standby.log");
    let gateway = GatewayProcess::start(&config)
        .await
        .map_err(|e| e.to_string())?;
    let measured = async {
        let readers = login_all(
            gateway.port,
            probes.iter().map(|p| p.username.clone()).collect(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let timing = StepTiming {
            warmup: options.warmup,
            measure: options.step,
        };
        let progress = Progress {
            enabled: options.progress,
        };
        let clients = options.query_clients.iter().copied().find(|&c| c == 16);
        let clients = clients
            .or(options.query_clients.first().copied())
            .unwrap_or(1);
        let mut figures = Vec::new();
        for kind in QueryKind::ALL {
            let bar = progress.timed(&format!("{} x{clients} through the standby", kind.name()));
            let m = measure_query(&readers, probes, kind, clients, timing, &bar).await;
            bar.finish_and_clear();
            eprintln!(
                "bench: {}",
                summary(&format!("{} (standby)", kind.name()), &m)
            );
            figures.push((kind, clients, Ok(m)));
        }
        Ok(figures)
    }
    .await;
    let _ = gateway.stop().await;
    measured
}

struct Steps {
    sends: Vec<(usize, Measurement)>,
    queries: Vec<(QueryKind, usize, Result<Measurement, String>)>,
    lag: Vec<LagRun>,
    notifications: Outcome<NotificationFigure>,
    login_flood: Outcome<LoginFlood>,
    http_floor: Outcome<Measurement>,
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
    let flood_users: Vec<String> = (0..population.people())
        .take(options.login_flood)
        .map(|u| population.username(u))
        .collect();
    let spinner = progress.spinner(&format!("{} logins at once", flood_users.len()));
    let rss_before = gateway.rss_bytes();
    let flood = login_flood(gateway.port, flood_users).await;
    spinner.finish_and_clear();
    let login_flood = match (flood, rss_before, gateway.rss_bytes()) {
        (Ok((logins, busy_answers, seconds)), Some(before), Some(after)) => {
            let flood = LoginFlood {
                logins,
                busy_answers,
                seconds,
                rss_before_bytes: before,
                rss_after_bytes: after,
            };
            eprintln!("bench: {}", flood.line());
            Outcome::measured(flood)
        }
        (Err(e), _, _) => Outcome::unavailable(e.to_string()),
        _ => Outcome::unavailable("/proc/PID/status not readable"),
    };
    sample("after the login flood");
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
    let clients = options.driver_clients.min(readers.len());
    let bar = progress.timed(&format!("http floor x{clients}"));
    let floor = measure_http_floor(&readers, clients, timing, &bar).await;
    bar.finish_and_clear();
    eprintln!("bench: {}", summary("http floor (GET /healthz)", &floor));
    sample("after the queries");
    let mut lag = Vec::new();
    let conditions = [
        (options.lag_send_rate, false),
        (options.lag_high_send_rate, false),
        (options.lag_send_rate, true),
    ];
    for (send_rate, idle_writer) in conditions {
        let mut condition = format!("{send_rate:.0} sends/s");
        // A transaction that has written (it holds a transaction id) and idles in another
        // database of the server: it must not hold the projections back.
        let writer = if idle_writer {
            condition.push_str(", a writer idle in transaction in another database");
            Some(idle_writer_elsewhere(pool).await?)
        } else {
            None
        };
        let bar = progress.timed(&format!("projection lag, {condition}"));
        let plan = LagPlan {
            duration: options.lag_duration,
            send_rate,
            probes: options.lag_probes,
        };
        let figure = measure_lag(gateway.port, &senders, population, plan, &bar).await?;
        bar.finish_and_clear();
        if let Some(writer) = writer {
            sqlx::Connection::close(writer).await?;
        }
        lag.push(LagRun {
            condition,
            send_rate,
            figure: Outcome::from_result(figure),
        });
    }
    sample("after the lag measurement");
    let bar = progress.timed(&format!(
        "notifications: {} idle streams, then latency at {:.0} sends/s",
        options.idle_streams, options.lag_send_rate
    ));
    let plan = LagPlan {
        duration: options.lag_duration,
        send_rate: options.lag_send_rate,
        probes: options.lag_probes,
    };
    let notifications = Outcome::from_result(
        measure_notifications(
            gateway,
            &senders,
            population,
            options.idle_streams,
            plan,
            &bar,
        )
        .await?,
    );
    bar.finish_and_clear();
    sample("after the notification measurement");
    Ok(Steps {
        sends: send_figures,
        queries: query_figures,
        lag,
        notifications,
        login_flood,
        http_floor: Outcome::measured(floor),
        rss,
    })
}

/// A connection to the server's `postgres` database holding a transaction with an id open.
async fn idle_writer_elsewhere(pool: &sqlx::PgPool) -> BenchResult<sqlx::PgConnection> {
    let options = pool.connect_options().as_ref().clone().database("postgres");
    let mut conn: sqlx::PgConnection = sqlx::Connection::connect_with(&options).await?;
    sqlx::query("BEGIN").execute(&mut conn).await?;
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut conn)
        .await?;
    Ok(conn)
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
