//! `projector`: runs the projections, or inspects, rebuilds and verifies them (see
//! `docs/projector.md`). Connects to `DATABASE_URL`.

mod operate;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use operate::{rebuild, status, verify};
use projections::{Projection, ProjectorRuntime, ProjectorSettings};
use sqlx::postgres::PgPoolOptions;
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
    /// Apply migrations, then project continuously until SIGINT/SIGTERM. Several instances may
    /// run: one leads each projection, the others wait as hot standbys.
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
    /// The projection: `messages` or `mailbox`.
    name: Option<String>,
    /// Every projection.
    #[arg(long)]
    all: bool,
}

#[derive(Args)]
#[group(required = false, multiple = false)]
pub(crate) struct Optional {
    /// The projection: `messages` or `mailbox` (default: every projection).
    name: Option<String>,
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

impl Select {
    pub(crate) fn projections(&self) -> anyhow::Result<Vec<Projection>> {
        match &self.name {
            Some(name) if !self.all => Ok(vec![name.parse()?]),
            _ => Ok(Projection::ALL.to_vec()),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    match execute(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("projector: {error:#}");
            ExitCode::from(2)
        }
    }
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
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&cli.database_url)
        .await
        .context("cannot connect to DATABASE_URL")?;
    let settings = ProjectorSettings::from_env()?;
    match cli.command {
        Command::Run => run(pool, settings).await,
        Command::Status => status(&pool).await,
        Command::Rebuild(select) => rebuild(&pool, &select, settings.batch_size).await,
        Command::Verify(select) => verify(&pool, &select.into(), settings.batch_size).await,
    }
}

async fn run(pool: PgPool, settings: ProjectorSettings) -> anyhow::Result<ExitCode> {
    migrations::MIGRATOR
        .run(&pool)
        .await
        .context("migrations failed")?;
    let shutdown = CancellationToken::new();
    let runtime = ProjectorRuntime::new(pool, settings).spawn(shutdown.clone());
    wait_for_signal().await;
    tracing::info!("stopping");
    shutdown.cancel();
    runtime.await.context("projector task failed")?;
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
