//! What a run measures and how big it is.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{BenchError, BenchResult};

/// Every knob of a run. [`BenchOptions::standard`] is the documented default (a run of a few
/// minutes on a 2-core machine); [`BenchOptions::tiny`] is the smoke test's size.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// A PostgreSQL server URL on a loopback address. The harness creates a fresh database
    /// there (`hs_bench_<time>_<pid>`), works only in it and drops it at the end.
    pub server_url: String,
    /// Users to create (90% patients, 10% clinicians, at least 2 of each).
    pub users: u32,
    /// Messages to generate into the log (each with its reads and deletes).
    pub messages: u64,
    /// Seed of the data generator (the same seed gives the same log).
    pub seed: u64,
    /// Concurrent clients of the send steps.
    pub send_clients: Vec<usize>,
    /// Concurrent clients of the inbox, sent, conversation and search steps.
    pub query_clients: Vec<usize>,
    /// Concurrent clients of the driver comparison (each read through tokio-postgres and sqlx).
    pub driver_clients: usize,
    /// Unrecorded time at the start of each step.
    pub warmup: Duration,
    /// Recorded time of each step.
    pub step: Duration,
    /// Length of the projection-lag measurement.
    pub lag_duration: Duration,
    /// Background sends per second during the projection-lag measurement (also measured with
    /// a transaction left open in another database of the server).
    pub lag_send_rate: f64,
    /// Background sends per second of the second, busier lag measurement.
    pub lag_high_send_rate: f64,
    /// Concurrent lag probes (each a dedicated sender/recipient pair).
    pub lag_probes: usize,
    /// Logins sent at once (different users) for the memory figure of a login flood.
    pub login_flood: usize,
    /// Idle notification streams held open at once for the memory figure.
    pub idle_streams: usize,
    /// Longest wait for the server's snapshot horizon to pass the loaded log (see
    /// `replay::wait_for_horizon`).
    pub horizon_wait: Duration,
    /// Folder holding the `gateway`, `hs-admin` and `projector` binaries.
    pub bin_dir: PathBuf,
    /// `pgbench` to use; found on PATH or under /usr/lib/postgresql when `None`.
    pub pgbench: Option<PathBuf>,
    /// Where the JSON report and the logs go.
    pub out_dir: PathBuf,
    /// Keep the benchmark database instead of dropping it.
    pub keep_database: bool,
    /// Draw progress bars (on a terminal).
    pub progress: bool,
    /// `RUST_LOG` of the gateway and projector.
    pub service_log: String,
    /// `DB_POOL_MAX` of the gateway (`None`: the product default).
    pub db_pool_max: Option<u32>,
    /// Extra environment variables of the gateway (e.g. another allocator).
    pub gateway_env: Vec<(String, String)>,
    /// A hot standby of the server (its URL without a database): queries measured through it.
    pub standby_url: Option<String>,
}

impl BenchOptions {
    /// The documented default size: 20,000 messages, 1,000 users, 5 s steps.
    pub fn standard(server_url: String, bin_dir: PathBuf, out_dir: PathBuf) -> Self {
        Self {
            server_url,
            users: 1_000,
            messages: 20_000,
            seed: 7,
            send_clients: vec![1, 4, 16, 64],
            query_clients: vec![1, 16, 64],
            driver_clients: 16,
            warmup: Duration::from_secs(1),
            step: Duration::from_secs(5),
            lag_duration: Duration::from_secs(20),
            lag_send_rate: 50.0,
            lag_high_send_rate: 500.0,
            lag_probes: 4,
            login_flood: 500,
            idle_streams: 1_000,
            horizon_wait: Duration::from_secs(60),
            bin_dir,
            pgbench: None,
            out_dir,
            keep_database: false,
            progress: true,
            service_log: "info,sqlx=warn".into(),
            db_pool_max: None,
            gateway_env: Vec::new(),
            standby_url: None,
        }
    }

    /// A run of a few seconds over a few hundred events, for the smoke test.
    pub fn tiny(server_url: String, bin_dir: PathBuf, out_dir: PathBuf) -> Self {
        Self {
            users: 24,
            messages: 300,
            send_clients: vec![1, 2],
            query_clients: vec![1, 2],
            driver_clients: 2,
            warmup: Duration::from_millis(100),
            step: Duration::from_millis(700),
            lag_duration: Duration::from_secs(2),
            lag_send_rate: 10.0,
            lag_high_send_rate: 40.0,
            lag_probes: 1,
            login_flood: 10,
            idle_streams: 20,
            horizon_wait: Duration::from_secs(15),
            progress: false,
            ..Self::standard(server_url, bin_dir, out_dir)
        }
    }

    /// The default number of users for `messages` messages when none is given: one user per
    /// 20 messages, between 100 and 50,000.
    pub fn users_for(messages: u64) -> u32 {
        u32::try_from((messages / 20).clamp(100, 50_000)).unwrap_or(50_000)
    }

    /// Rejects sizes the generator cannot serve.
    pub fn validate(&self) -> BenchResult<()> {
        if self.users < 4 {
            return Err(BenchError::Options("--users must be at least 4".into()));
        }
        if self.messages == 0 {
            return Err(BenchError::Options("--messages must be at least 1".into()));
        }
        let zero = |levels: &[usize]| levels.is_empty() || levels.contains(&0);
        if zero(&self.send_clients) || zero(&self.query_clients) || self.lag_probes == 0 {
            return Err(BenchError::Options(
                "client counts must be at least 1".into(),
            ));
        }
        if self.step.is_zero()
            || self.lag_duration.is_zero()
            || self.lag_send_rate <= 0.0
            || self.lag_high_send_rate <= 0.0
        {
            return Err(BenchError::Options(
                "durations and rates must be positive".into(),
            ));
        }
        Ok(())
    }

    /// The largest number of concurrent send clients.
    pub fn max_send_clients(&self) -> usize {
        self.send_clients.iter().copied().max().unwrap_or(1)
    }

    /// The largest number of concurrent query clients.
    pub fn max_query_clients(&self) -> usize {
        self.query_clients.iter().copied().max().unwrap_or(1)
    }
}
