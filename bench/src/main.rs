//! `bench`: runs the whole benchmark and prints the table (see `docs/benchmarks.md`).
//! Usually started through `bench/run.sh`, which builds the binaries first.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bench::{table, BenchOptions};
use clap::Parser;

/// Measures the messaging service against raw PostgreSQL on this machine.
#[derive(Debug, Parser)]
#[command(name = "bench", version, about)]
struct Cli {
    /// A PostgreSQL server on this machine where databases may be created; the benchmark
    /// creates its own fresh database there and drops it at the end.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Messages in the generated history (with their replies, reads and deletes).
    #[arg(long, default_value_t = 20_000)]
    messages: u64,
    /// Users (10% clinicians); default one per 20 messages, between 100 and 50,000.
    #[arg(long)]
    users: Option<u32>,
    /// Recorded seconds of each step.
    #[arg(long, default_value_t = 5.0)]
    step_secs: f64,
    /// Unrecorded warm-up seconds before each step.
    #[arg(long, default_value_t = 1.0)]
    warmup_secs: f64,
    /// Seconds of each projection-lag measurement (and of the notification latency).
    #[arg(long, default_value_t = 20.0)]
    lag_secs: f64,
    /// Concurrent clients of the send steps.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16,64")]
    send_clients: Vec<usize>,
    /// Concurrent clients of the query steps.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    query_clients: Vec<usize>,
    /// Folder with the `gateway` and `projector` binaries (default: this binary's folder).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// The pgbench to use (default: on PATH or the newest /usr/lib/postgresql/*/bin/pgbench).
    #[arg(long)]
    pgbench: Option<PathBuf>,
    /// Where the JSON report and logs go.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/out"))]
    out: PathBuf,
    /// `DB_POOL_MAX` of the gateway (default: the gateway's own default).
    #[arg(long)]
    db_pool_max: Option<u32>,
    /// An extra environment variable of the gateway, `KEY=VALUE` (repeatable): e.g.
    /// `MALLOC_ARENA_MAX=2` or `LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2` to
    /// measure another allocator. Recorded in the report.
    #[arg(long, value_parser = key_value)]
    gateway_env: Vec<(String, String)>,
    /// A hot standby of the --database-url server (bench/run.sh starts one): the query steps
    /// are measured again through it (QUERY_DATABASE_URL), beside the primary's.
    #[arg(long, env = "HS_BENCH_STANDBY_URL", hide_env_values = true)]
    standby_url: Option<String>,
    /// Seed of the generated history.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Keep the benchmark database at the end (for inspection).
    #[arg(long)]
    keep_database: bool,
    /// No progress bars.
    #[arg(long)]
    no_progress: bool,
}

fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

fn seconds(value: f64, name: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value).with_context(|| format!("--{name} must be a duration"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let bin_dir = match cli.bin_dir {
        Some(dir) => dir,
        None => std::env::current_exe()?
            .parent()
            .map(PathBuf::from)
            .context("no folder for this binary")?,
    };
    let mut options = BenchOptions::standard(cli.database_url, bin_dir, cli.out.clone());
    options.messages = cli.messages;
    options.users = cli
        .users
        .unwrap_or_else(|| BenchOptions::users_for(cli.messages));
    options.step = seconds(cli.step_secs, "step-secs")?;
    options.warmup = seconds(cli.warmup_secs, "warmup-secs")?;
    options.lag_duration = seconds(cli.lag_secs, "lag-secs")?;
    options.send_clients = cli.send_clients;
    options.query_clients = cli.query_clients;
    options.pgbench = cli.pgbench;
    options.db_pool_max = cli.db_pool_max;
    options.gateway_env = cli.gateway_env;
    options.standby_url = cli.standby_url;
    options.seed = cli.seed;
    options.keep_database = cli.keep_database;
    options.progress = !cli.no_progress;
    let command = std::env::var("HS_BENCH_COMMAND")
        .unwrap_or_else(|_| std::env::args().collect::<Vec<_>>().join(" "));
    let report = bench::run(&options, &command).await?;
    let json = serde_json::to_string_pretty(&report)?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let file = cli.out.join(format!("bench-{stamp}.json"));
    std::fs::write(&file, &json)?;
    std::fs::write(cli.out.join("latest.json"), &json)?;
    let md = bench::markdown::render(&report);
    std::fs::write(cli.out.join(format!("bench-{stamp}.md")), &md)?;
    std::fs::write(cli.out.join("latest.md"), &md)?;
    println!("{}", table::render(&report));
    println!(
        "report: {} ({:.0} s in all)",
        file.display(),
        report.seconds
    );
    Ok(())
}
