//! How busy the machine is: other work on the two cores lowers every figure, so a run records
//! the load average and how much CPU was already in use when it started.

use std::time::Duration;

/// The first three fields of /proc/loadavg (1, 5 and 15 minutes).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// `(busy, total)` jiffies of all CPUs from /proc/stat.
fn cpu_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().sum();
    // idle and iowait are the 4th and 5th fields.
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

/// Percentage of all CPUs busy over `window` (`None` without /proc/stat).
pub async fn cpu_busy_percent(window: Duration) -> Option<f64> {
    let (busy0, total0) = cpu_jiffies()?;
    tokio::time::sleep(window).await;
    let (busy1, total1) = cpu_jiffies()?;
    let total = total1.saturating_sub(total0);
    (total > 0).then(|| busy1.saturating_sub(busy0) as f64 * 100.0 / total as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_cpu_use_of_this_machine_is_a_percentage() {
        let busy = cpu_busy_percent(Duration::from_millis(200)).await;
        assert!(busy.is_some_and(|b| (0.0..=100.0).contains(&b)), "{busy:?}");
        assert_eq!(load_average().split_whitespace().count(), 3);
    }
}
