//! Runs pgbench with a custom script at a given concurrency and turns its per-transaction log
//! into the same [`Measurement`] as the service's steps (same warm-up, same window).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::measurement::{histogram, record, Measurement};
use crate::runner::StepTiming;

/// pgbench on this machine: `explicit`, else on PATH, else the newest under
/// /usr/lib/postgresql/*/bin.
pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return path.is_file().then(|| path.to_path_buf());
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("pgbench"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.path().join("bin").join("pgbench"))
            .filter(|p| p.is_file())
            .collect();
        found.sort_by_key(|p| {
            p.components()
                .nth(4)
                .and_then(|c| c.as_os_str().to_str()?.parse::<u32>().ok())
        });
        found.pop()
    })
}

/// pgbench against one database, writing scripts and logs under `dir`.
#[derive(Debug, Clone)]
pub struct Pgbench {
    pub binary: PathBuf,
    pub database_url: String,
    pub dir: PathBuf,
}

impl Pgbench {
    /// Runs `script` with `clients` connections for the step's warm-up plus window (rounded up
    /// to whole seconds) and measures the transactions that ended inside the window.
    pub async fn run(
        &self,
        name: &str,
        script: &str,
        clients: usize,
        timing: StepTiming,
    ) -> Result<Measurement, String> {
        let io = |e: std::io::Error| format!("pgbench {name}: {e}");
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let script_file = self.dir.join(format!("{name}.sql"));
        std::fs::write(&script_file, script).map_err(io)?;
        let prefix = format!("{name}_c{clients}");
        let seconds = (timing.warmup + timing.measure)
            .as_secs_f64()
            .ceil()
            .max(1.0) as u64;
        let threads = clients.min(2);
        let output = Command::new(&self.binary)
            .args(["-n", "-M", "prepared", "-l"])
            .arg(format!("--log-prefix={}", self.dir.join(&prefix).display()))
            .arg(format!("--client={clients}"))
            .arg(format!("--jobs={threads}"))
            .arg(format!("--time={seconds}"))
            .arg(format!("--file={}", script_file.display()))
            .arg(&self.database_url)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(io)?;
        let logs = self.take_logs(&prefix).map_err(io)?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
            return Err(format!(
                "pgbench {name} exited with {}: {}",
                output.status,
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            ));
        }
        Ok(measure(&logs, clients, timing))
    }

    /// Reads and removes the per-transaction logs of one run.
    fn take_logs(&self, prefix: &str) -> std::io::Result<String> {
        let mut all = String::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let is_log = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{prefix}.")));
            if is_log {
                all.push_str(&std::fs::read_to_string(&path)?);
                std::fs::remove_file(&path)?;
            }
        }
        Ok(all)
    }
}

/// Parses pgbench's per-transaction log (`client tx latency_us script epoch_s epoch_us ...`):
/// the window starts `warmup` after the first transaction began.
pub fn measure(log: &str, clients: usize, timing: StepTiming) -> Measurement {
    let rows: Vec<(u64, u64)> = log
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let latency: u64 = f.get(2)?.parse().ok()?;
            let end = f.get(4)?.parse::<u64>().ok()? * 1_000_000 + f.get(5)?.parse::<u64>().ok()?;
            Some((latency, end))
        })
        .collect();
    let start = rows
        .iter()
        .map(|(latency, end)| end.saturating_sub(*latency))
        .min()
        .unwrap_or(0);
    let from = start + timing.warmup.as_micros() as u64;
    let to = from + timing.measure.as_micros() as u64;
    let mut latencies = histogram();
    for (latency, end) in rows {
        if end >= from && end < to {
            record(&mut latencies, latency);
        }
    }
    Measurement::from_histogram(clients, &latencies, 0, timing.measure.as_secs_f64(), None)
}

/// A step's timing for pgbench (the same as the service's).
pub fn timing(warmup: Duration, measure: Duration) -> StepTiming {
    StepTiming { warmup, measure }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transactions_ending_inside_the_window_are_measured() {
        // Transactions of 1 ms ending every 100 ms from t = 10 s.
        let log: String = (0..30)
            .map(|i| {
                format!(
                    "0 {i} 1000 0 {} {}\n",
                    10 + i / 10,
                    (i % 10) * 100_000 + 1000
                )
            })
            .collect();
        let timing = timing(Duration::from_secs(1), Duration::from_secs(1));
        let m = measure(&log, 1, timing);
        assert_eq!(m.requests, 10);
        assert!((m.p50_ms - 1.0).abs() < 0.01);
    }
}
