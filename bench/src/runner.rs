//! A closed-loop load runner: N clients, each sending its next request as soon as the previous
//! one answered, for a warm-up (not recorded) and a recorded window. Every loop ends at its
//! deadline; a request still in flight then is bounded by the HTTP client's timeout.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;

use crate::measurement::{histogram, record, Measurement};

/// How long a step warms up and then records.
#[derive(Debug, Clone, Copy)]
pub struct StepTiming {
    pub warmup: Duration,
    pub measure: Duration,
}

/// Runs `op(client, iteration)` in `clients` concurrent loops and measures the requests that
/// completed inside the recorded window. `op` answers `Err(description)` for a failed request.
pub async fn closed_loop<F, Fut>(
    clients: usize,
    timing: StepTiming,
    bar: &ProgressBar,
    op: F,
) -> Measurement
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let record_from = started + timing.warmup;
    let end = record_from + timing.measure;
    let done = Arc::new(AtomicU64::new(0));
    let ticker = tick(bar.clone(), started, timing, done.clone());
    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        let (op, done) = (op.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = histogram();
            let (mut errors, mut first_error) = (0u64, None);
            let mut iteration = 0;
            while Instant::now() < end {
                let sent = Instant::now();
                let result = op(client, iteration).await;
                let answered = Instant::now();
                iteration += 1;
                done.fetch_add(1, Ordering::Relaxed);
                let in_window = answered >= record_from && answered < end;
                match result {
                    Ok(()) if in_window => {
                        record(&mut latencies, (answered - sent).as_micros() as u64);
                    }
                    Ok(()) => {}
                    Err(error) => {
                        if in_window {
                            errors += 1;
                            first_error.get_or_insert(error);
                        }
                        // A failing target answers fast; do not spin on it.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }
            (latencies, errors, first_error)
        }));
    }
    let mut all = histogram();
    let (mut errors, mut first_error) = (0, None);
    for task in tasks {
        match task.await {
            Ok((latencies, e, first)) => {
                all.add(&latencies).ok();
                errors += e;
                if first_error.is_none() {
                    first_error = first;
                }
            }
            Err(join) => {
                errors += 1;
                first_error.get_or_insert(format!("client task failed: {join}"));
            }
        }
    }
    ticker.abort();
    Measurement::from_histogram(
        clients,
        &all,
        errors,
        timing.measure.as_secs_f64(),
        first_error,
    )
}

/// Moves `bar` along the step's time and shows the request count.
pub fn tick(
    bar: ProgressBar,
    started: Instant,
    timing: StepTiming,
    done: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    let total = timing.warmup + timing.measure;
    bar.set_length(total.as_millis() as u64);
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_millis(100));
        loop {
            interval.tick().await;
            let elapsed = started.elapsed().min(total);
            bar.set_position(elapsed.as_millis() as u64);
            bar.set_message(format!("{} requests", done.load(Ordering::Relaxed)));
            if elapsed >= total {
                break;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_step_records_only_its_window_and_counts_errors() {
        let timing = StepTiming {
            warmup: Duration::from_millis(50),
            measure: Duration::from_millis(200),
        };
        let m = closed_loop(2, timing, &ProgressBar::hidden(), |client, n| async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            if client == 1 && n % 2 == 0 {
                Err("even".to_owned())
            } else {
                Ok(())
            }
        })
        .await;
        assert_eq!(m.clients, 2);
        assert!(m.requests > 10, "{m:?}");
        assert!(m.errors > 0, "{m:?}");
        assert_eq!(m.first_error.as_deref(), Some("even"));
    }
}
