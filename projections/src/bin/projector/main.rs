//! `projector`: runs the projections, or inspects, rebuilds and verifies them (see
//! `docs/projector.md`). Connects to `DATABASE_URL`.
//!
//! Exit codes: 0 success, 1 `verify` found a difference, 2 the command could not run (bad
//! arguments, database unreachable, ...). A reader that closes the pipe early ends it quietly.

mod operate;

use std::process::ExitCode;

use anyhow::Context;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use operate::{rebuild, status, verify};
use projections::{Projection, ProjectorRuntime, ProjectorSettings};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "projector",
    version,
    about = "Keeps the read tables of Healing Space messaging \
    in step with the event log, and checks or rebuilds them."
)]
struct Cli {
    /// PostgreSQL holding the event log and the read tables.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations, then project continuously, and deliver scheduled messages, until
    /// SIGINT/SIGTERM. Several instances may run: one leads each projection and the scheduler,
    /// the others wait as hot standbys.
    Run,
    /// Show each projection's checkpoint, pending events, lag and whether a leader is running.
    Status,
    /// Replay the log from position 0 into fresh tables and swap them in, while the live system
    /// keeps serving. Shows a progress bar.
    Rebuild(Select),
    /// Replay the log into scratch tables and compare them with the live ones (every projection
    /// unless one is named). Exits with 1 and a diff summary when they differ.
    Verify(Optional),
}

#[derive(Args)]
#[group(required = true, multiple = false)]
pub(crate) struct Select {
    /// The projection.
    #[arg(value_parser = projection_name())]
    name: Option<Projection>,
    /// Every projection.
    #[arg(long)]
    all: bool,
}

#[derive(Args)]
#[group(required = false, multiple = false)]
pub(crate) struct Optional {
    /// The projection (default: every projection).
    #[arg(value_parser = projection_name())]
    name: Option<Projection>,
    /// Every projection (the default).
    #[arg(long)]
    all: bool,
}

impl From<Optional> for Select {
    fn from(o: Optional) -> Self {
        Select {
            all: o.all || o.name.is_none(),
            name: o.name,
        }
    }
}

/// A projection's name, checked by clap (a wrong one is a usage error listing the names).
fn projection_name() -> impl TypedValueParser<Value = Projection> {
    PossibleValuesParser::new(Projection::ALL.map(Projection::name))
        .try_map(|name| name.parse::<Projection>())
}

impl Select {
    pub(crate) fn projections(&self) -> Vec<Projection> {
        match self.name {
            Some(projection) if !self.all => vec![projection],
            _ => Projection::ALL.to_vec(),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    match execute(cli).await {
        Ok(code) => code,
        // The reader has gone (`projector status | head`): nothing left to say to anyone.
        Err(error) if closed_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("projector: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Whether `error` comes from writing to a pipe whose reader has closed it.
fn closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    // The keys open sealed message text; `status` alone reads none.
    let needs_keys = !matches!(cli.command, Command::Status);
    if needs_keys {
        vault::process()?;
    }
    let pool = http_edge::connect_pool(&http_edge::DatabaseUrl(cli.database_url), 4).await?;
    let settings = ProjectorSettings::from_env()?;
    if needs_keys && !matches!(cli.command, Command::Run) {
        vault::check_at_start(&pool).await?;
    }
    match cli.command {
        Command::Run => run(pool, settings).await,
        Command::Status => status(&pool).await,
        Command::Rebuild(select) => rebuild(&pool, &select, settings.replay_batch_size).await,
        Command::Verify(select) => verify(&pool, &select.into(), settings.replay_batch_size).await,
    }
}

async fn run(pool: PgPool, settings: ProjectorSettings) -> anyhow::Result<ExitCode> {
    migrations::MIGRATOR
        .run(&pool)
        .await
        .context("migrations failed")?;
    vault::check_at_start(&pool).await?;
    let shutdown = CancellationToken::new();
    // The scheduler runs beside the projector (split mode); one instance leads.
    let scheduler = command_service::scheduler::spawn_standalone(
        pool.clone(),
        command_service::scheduler::SchedulerSettings::from_env()?,
        shutdown.clone(),
    );
    let runtime = ProjectorRuntime::new(pool, settings).spawn(shutdown.clone());
    wait_for_signal().await;
    tracing::info!("stopping");
    shutdown.cancel();
    runtime.await.context("projector task failed")?;
    scheduler.await.context("scheduler task failed")?;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.ok();
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
