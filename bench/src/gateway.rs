//! The gateway under test, as a child process: started on a free loopback port against the
//! benchmark's database with rate limits out of the way, watched for peak memory, stopped at
//! the end (SIGTERM, then SIGKILL after a grace period).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::process::{Child, Command};

use crate::error::{BenchError, BenchResult};

/// Rate limits high enough that no benchmark client ever meets them.
const NO_LIMIT: &str = "1000000000";

/// How to start the gateway.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub binary: PathBuf,
    pub database_url: String,
    pub log_file: PathBuf,
    pub rust_log: String,
    pub db_pool_max: Option<u32>,
    pub extra_env: Vec<(String, String)>,
}

/// A running gateway.
#[derive(Debug)]
pub struct GatewayProcess {
    child: Child,
    pub pid: u32,
    pub port: u16,
    pub log_file: PathBuf,
    /// Set when `/readyz` never answered 200 but `/healthz` did (the run goes on).
    pub readiness_note: Option<String>,
}

/// A free TCP port on 127.0.0.1 (bound and released; the gateway binds it right after).
pub fn free_port() -> BenchResult<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

impl GatewayProcess {
    /// Starts the gateway and waits until it answers (at most 60 s).
    pub async fn start(config: &GatewayConfig) -> BenchResult<Self> {
        if !config.binary.is_file() {
            return Err(BenchError::Gateway(format!(
                "no gateway binary at {} (build it: cargo build --release -p gateway)",
                config.binary.display()
            )));
        }
        let port = free_port()?;
        let log = std::fs::File::create(&config.log_file)?;
        let mut command = Command::new(&config.binary);
        command
            .env("DATABASE_URL", &config.database_url)
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("RUST_LOG", &config.rust_log)
            .env("NO_COLOR", "1")
            .env("METRICS_ADDR", "off")
            .env("RATE_LIMIT_USER_PER_SECOND", NO_LIMIT)
            .env("RATE_LIMIT_USER_BURST", NO_LIMIT)
            .env("RATE_LIMIT_IP_PER_SECOND", NO_LIMIT)
            .env("RATE_LIMIT_IP_BURST", NO_LIMIT)
            .env("SHUTDOWN_GRACE_SECS", "5")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        command.envs(config.extra_env.iter().cloned());
        if let Some(max) = config.db_pool_max {
            command.env("DB_POOL_MAX", max.to_string());
        }
        let child = command.spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| BenchError::Gateway("the gateway exited at once".into()))?;
        let mut gateway = Self {
            child,
            pid,
            port,
            log_file: config.log_file.clone(),
            readiness_note: None,
        };
        gateway.wait_until_ready().await?;
        Ok(gateway)
    }

    async fn wait_until_ready(&mut self) -> BenchResult<()> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()?;
        let base = crate::client::base_url(self.port);
        let started = Instant::now();
        let mut healthy = false;
        while started.elapsed() < Duration::from_secs(60) {
            if let Some(status) = self.child.try_wait()? {
                return Err(BenchError::Gateway(format!(
                    "the gateway exited with {status}; see {}",
                    self.log_file.display()
                )));
            }
            let answer = |path: &'static str| {
                let client = client.clone();
                let url = format!("{base}{path}");
                async move { client.get(url).send().await.map(|r| r.status()).ok() }
            };
            if answer("/readyz").await == Some(StatusCode::OK) {
                return Ok(());
            }
            healthy = healthy || answer("/healthz").await == Some(StatusCode::OK);
            if healthy && started.elapsed() > Duration::from_secs(30) {
                self.readiness_note =
                    Some("/readyz never answered 200 within 30 s; /healthz did".into());
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(BenchError::Gateway(format!(
            "the gateway did not answer within 60 s; see {}",
            self.log_file.display()
        )))
    }

    /// Peak resident memory so far (`VmHWM` of /proc/PID/status), in bytes.
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        proc_status_kib(self.pid, "VmHWM:").map(|kib| kib * 1024)
    }

    /// Resident memory now (`VmRSS`), in bytes.
    pub fn rss_bytes(&self) -> Option<u64> {
        proc_status_kib(self.pid, "VmRSS:").map(|kib| kib * 1024)
    }

    /// Stops the gateway: SIGTERM, then SIGKILL after 10 s.
    pub async fn stop(mut self) -> BenchResult<()> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .await;
        match tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                self.child.kill().await?;
            }
        }
        Ok(())
    }
}

/// A `kB` field of /proc/PID/status.
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status =
        std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_memory_of_this_process_is_readable() {
        let peak = proc_status_kib(std::process::id(), "VmHWM:");
        assert!(peak.is_some_and(|kib| kib > 0));
    }
}
