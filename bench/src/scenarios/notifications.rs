//! Live notifications: the gateway's memory per idle notification stream, and the time from a
//! send's 201 to the `message` event on the recipient's open stream, under a steady background
//! send load (the lag measurement's probe pairs and load).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use indicatif::ProgressBar;
use serde::Serialize;

use crate::client::{EventStream, Session};
use crate::data::Population;
use crate::error::BenchResult;
use crate::gateway::GatewayProcess;
use crate::measurement::{histogram, quantile_ms, record};
use crate::scenarios::lag::{background_load, probe_pairs, LagPlan, PROBE_TIMEOUT};
use crate::scenarios::login_all;

/// Streams a user may hold at once (the contract's bound).
const STREAMS_PER_USER: usize = 5;

/// What the notification measurement saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotificationFigure {
    /// Idle streams held open at once.
    pub idle_streams: u64,
    /// The gateway's VmRSS before they were opened and while they were open.
    pub rss_before_bytes: u64,
    pub rss_with_streams_bytes: u64,
    /// The difference per stream.
    pub bytes_per_stream: f64,
    /// Sends whose `message` event arrived, and those that did not within 10 s.
    pub probes: u64,
    pub timeouts: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Background sends answered 201 per second during the latency measurement.
    pub background_per_second: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// Opens `count` idle streams (five per user, users `population.username(0..)`), samples the
/// gateway's memory, closes them, then measures the notification latency with `plan`.
pub async fn measure_notifications(
    gateway: &GatewayProcess,
    background: &[Arc<Session>],
    population: &Population,
    count: usize,
    plan: LagPlan,
    bar: &ProgressBar,
) -> BenchResult<Result<NotificationFigure, String>> {
    let users = count.div_ceil(STREAMS_PER_USER);
    let names = (0..users)
        .map(|i| population.username(u32::try_from(i).unwrap_or(0)))
        .collect();
    let sessions = login_all(gateway.port, names).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let Some(rss_before) = gateway.rss_bytes() else {
        return Ok(Err("/proc/PID/status not readable".into()));
    };
    let opened: Vec<Result<EventStream, String>> = futures::stream::iter(0..count)
        .map(|i| {
            let session = sessions[i % sessions.len()].clone();
            async move {
                let mut stream = session.open_stream().await?;
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                stream.established(deadline).await?;
                Ok(stream)
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let (streams, errors): (Vec<_>, Vec<_>) = opened.into_iter().partition(Result::is_ok);
    if let Some(Err(error)) = errors.into_iter().next() {
        return Ok(Err(format!("opening {count} streams: {error}")));
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let rss_with = gateway.rss_bytes().unwrap_or(rss_before);
    drop(streams);
    let latency = measure_latency(gateway.port, background, population, plan, bar).await?;
    let (lags, timeouts, background_per_second, first_error) = match latency {
        Ok(found) => found,
        Err(reason) => return Ok(Err(reason)),
    };
    let ms = |q: f64| quantile_ms(&lags, q);
    Ok(Ok(NotificationFigure {
        idle_streams: count as u64,
        rss_before_bytes: rss_before,
        rss_with_streams_bytes: rss_with,
        bytes_per_stream: (rss_with as f64 - rss_before as f64) / count.max(1) as f64,
        probes: lags.len(),
        timeouts,
        p50_ms: ms(0.5),
        p95_ms: ms(0.95),
        p99_ms: ms(0.99),
        max_ms: ms(1.0),
        background_per_second,
        first_error,
    }))
}

type Latency = (hdrhistogram::Histogram<u64>, u64, f64, Option<String>);

/// Each probe pair's recipient holds a stream; its sender sends, and the time from the 201 to
/// the matching `message` event is recorded, while the background load runs.
async fn measure_latency(
    port: u16,
    background: &[Arc<Session>],
    population: &Population,
    plan: LagPlan,
    bar: &ProgressBar,
) -> BenchResult<Result<Latency, String>> {
    let mut pairs = Vec::new();
    for (sender, recipient) in probe_pairs(port, plan.probes).await? {
        match recipient.open_stream().await {
            Ok(stream) => pairs.push((sender, recipient.username.clone(), stream)),
            Err(reason) => return Ok(Err(reason)),
        }
    }
    let end = Instant::now() + plan.duration;
    bar.set_length(plan.duration.as_secs());
    let load = background_load(background, population, plan, end);
    let probes = pairs.into_iter().map(|(sender, recipient, stream)| {
        tokio::spawn(probe_loop(sender, recipient, stream, end))
    });
    let (sent, results) = tokio::join!(load, futures::future::join_all(probes));
    let mut lags = histogram();
    let (mut timeouts, mut first_error) = (0, None);
    for result in results {
        match result {
            Ok((probe_lags, probe_timeouts, error)) => {
                lags.add(&probe_lags).ok();
                timeouts += probe_timeouts;
                if first_error.is_none() {
                    first_error = error;
                }
            }
            Err(join) => {
                first_error.get_or_insert(format!("probe task failed: {join}"));
            }
        }
    }
    Ok(Ok((
        lags,
        timeouts,
        sent as f64 / plan.duration.as_secs_f64(),
        first_error,
    )))
}

async fn probe_loop(
    sender: Arc<Session>,
    recipient: String,
    mut stream: EventStream,
    end: Instant,
) -> (hdrhistogram::Histogram<u64>, u64, Option<String>) {
    let (mut lags, mut timeouts, mut first_error) = (histogram(), 0, None);
    let mut n = 0u64;
    while Instant::now() < end {
        n += 1;
        let receipt = match sender
            .send(&recipient, "notify probe", &format!("probe {n}"))
            .await
        {
            Ok(receipt) => receipt,
            Err(error) => {
                first_error.get_or_insert(error);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let sent = Instant::now();
        let wanted = receipt.message_id.to_string();
        let deadline = tokio::time::Instant::now() + PROBE_TIMEOUT;
        loop {
            match stream.next_event(deadline).await {
                Ok(event) if event.event == "message" && event.data.contains(&wanted) => {
                    record(&mut lags, sent.elapsed().as_micros() as u64);
                    break;
                }
                Ok(_) => continue,
                Err(error) => {
                    timeouts += 1;
                    first_error.get_or_insert(error);
                    return (lags, timeouts, first_error);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (lags, timeouts, first_error)
}
