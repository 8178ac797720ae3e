//! Projection lag: the time from a send's 201 to the message showing in the recipient's inbox,
//! while background clients keep a steady send load.
//!
//! Each probe pair (`lag_s<i>` → `lag_r<i>`) is used by nothing else, so the recipient's newest
//! conversation is the probe's. The recipient reads its inbox with the send's consistency token
//! (the server answers as soon as the projection has passed it: what a client that wants its
//! write does), so the figure is one request's completion, not a poll's; should the answer not
//! show the message, the probe polls (every [`POLL_INTERVAL`]) until it does. Polling every probe
//! from the start used to put hundreds of inbox requests a second on the machine being measured.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;
use uuid::Uuid;

use crate::client::Session;
use crate::data::{text, Population};
use crate::error::BenchResult;
use crate::measurement::{histogram, quantile_ms, record};
use crate::runner::{tick, StepTiming};
use crate::scenarios::sends::{recipient_for, sender_of};

/// How often a probe polls the inbox.
pub const POLL_INTERVAL: Duration = Duration::from_millis(5);
/// A message not visible after this long counts as a timeout.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the lag measurement saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LagFigure {
    /// Probes whose message became visible.
    pub probes: u64,
    /// Probes whose message did not show within the probe timeout (10 s).
    pub timeouts: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Background sends answered 201 during the measurement, and their rate.
    pub background_sends: u64,
    pub background_per_second: f64,
    pub poll_interval_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// How the lag is measured.
#[derive(Debug, Clone, Copy)]
pub struct LagPlan {
    pub duration: Duration,
    pub send_rate: f64,
    pub probes: usize,
}

/// One lag measurement and the condition it ran under.
#[derive(Debug, Clone, Serialize)]
pub struct LagRun {
    /// What else was going on (`"50 sends/s"`, `"… with a writer idle in another database"`).
    pub condition: String,
    /// The background send rate asked for.
    pub send_rate: f64,
    pub figure: crate::report::Outcome<LagFigure>,
}

impl LagPlan {
    /// Background clients: one per 50 sends/s asked for, at least four.
    fn clients(&self) -> usize {
        ((self.send_rate / 50.0).ceil() as usize).max(4)
    }
}

/// Measures the lag; `Ok(Err(reason))` when the inbox cannot be read at all.
pub async fn measure_lag(
    port: u16,
    background: &[Arc<Session>],
    population: &Population,
    plan: LagPlan,
    bar: &ProgressBar,
) -> BenchResult<Result<LagFigure, String>> {
    let pairs = probe_pairs(port, plan.probes).await?;
    if let Some((_, recipient)) = pairs.first() {
        if let Err(reason) = recipient.get_ok("/api/messages/inbox?limit=5").await {
            return Ok(Err(reason));
        }
    }
    let started = Instant::now();
    let end = started + plan.duration;
    let done = Arc::new(AtomicU64::new(0));
    let timing = StepTiming {
        warmup: Duration::ZERO,
        measure: plan.duration,
    };
    let ticker = tick(bar.clone(), started, timing, done.clone());
    let load = background_load(background, population, plan, end);
    let probes = pairs
        .into_iter()
        .map(|(s, r)| tokio::spawn(probe_loop(s, r, end, done.clone())));
    let probe_results = futures::future::join_all(probes);
    let (background_sends, results) = tokio::join!(load, probe_results);
    ticker.abort();
    let mut lags = histogram();
    let (mut timeouts, mut first_error) = (0, None);
    for result in results {
        match result {
            Ok(outcome) => {
                lags.add(&outcome.lags).ok();
                timeouts += outcome.timeouts;
                if first_error.is_none() {
                    first_error = outcome.first_error;
                }
            }
            Err(join) => {
                first_error.get_or_insert(format!("probe task failed: {join}"));
            }
        }
    }
    let ms = |q: f64| quantile_ms(&lags, q);
    Ok(Ok(LagFigure {
        probes: lags.len(),
        timeouts,
        p50_ms: ms(0.5),
        p95_ms: ms(0.95),
        p99_ms: ms(0.99),
        max_ms: ms(1.0),
        background_sends,
        background_per_second: background_sends as f64 / plan.duration.as_secs_f64(),
        poll_interval_ms: POLL_INTERVAL.as_millis() as u64,
        first_error,
    }))
}

/// The probe pairs (`lag_s<i>` → `lag_r<i>`, used by nothing else), logged in.
pub(crate) async fn probe_pairs(
    port: u16,
    probes: usize,
) -> BenchResult<Vec<(Arc<Session>, Arc<Session>)>> {
    let mut pairs = Vec::new();
    for i in 0..probes {
        let (s, r) = Population::lag_pair(u32::try_from(i).unwrap_or(0));
        let sessions = crate::scenarios::login_all(port, vec![s, r]).await?;
        if let [s, r] = sessions.as_slice() {
            pairs.push((s.clone(), r.clone()));
        }
    }
    Ok(pairs)
}

/// Clients (see [`LagPlan::clients`]) sending at `plan.send_rate` in total until `end`;
/// returns the 201s.
pub(crate) async fn background_load(
    senders: &[Arc<Session>],
    population: &Population,
    plan: LagPlan,
    end: Instant,
) -> u64 {
    let clients: Vec<(usize, Arc<Session>)> = senders
        .iter()
        .take(plan.clients())
        .cloned()
        .enumerate()
        .collect();
    if clients.is_empty() {
        return 0;
    }
    let per_client = plan.send_rate / clients.len() as f64;
    let period = Duration::from_secs_f64(1.0 / per_client.max(0.01));
    let tasks = clients.into_iter().map(|(i, session)| {
        let population = population.clone();
        tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(0x1a9 ^ i as u64);
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let sender = sender_of(&population, i);
            let mut ok = 0;
            while Instant::now() < end {
                interval.tick().await;
                let recipient = population.username(recipient_for(&population, sender, &mut rng));
                let (subject, content) = (text::subject(&mut rng), text::content(&mut rng));
                if session.send(&recipient, &subject, &content).await.is_ok() {
                    ok += 1;
                }
            }
            ok
        })
    });
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap_or(0))
        .sum()
}

struct ProbeOutcome {
    lags: hdrhistogram::Histogram<u64>,
    timeouts: u64,
    first_error: Option<String>,
}

async fn probe_loop(
    sender: Arc<Session>,
    recipient: Arc<Session>,
    end: Instant,
    done: Arc<AtomicU64>,
) -> ProbeOutcome {
    let mut outcome = ProbeOutcome {
        lags: histogram(),
        timeouts: 0,
        first_error: None,
    };
    let mut n = 0u64;
    while Instant::now() < end {
        n += 1;
        let content = format!("lag probe {n}");
        let receipt = match sender
            .send(&recipient.username, "lag probe", &content)
            .await
        {
            Ok(receipt) => receipt,
            Err(error) => {
                outcome.first_error.get_or_insert(error);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let sent = Instant::now();
        let token = receipt.token.as_deref();
        match wait_visible(
            &recipient,
            &sender.username,
            receipt.message_id,
            token,
            sent,
        )
        .await
        {
            Ok(Some(lag)) => record(&mut outcome.lags, lag.as_micros() as u64),
            Ok(None) => outcome.timeouts += 1,
            Err(error) => {
                outcome.first_error.get_or_insert(error);
            }
        }
        done.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    outcome
}

/// Reads the recipient's inbox (first with the send's token) until the conversation with
/// `from` shows `message_id` as its last message; `None` after the probe timeout.
async fn wait_visible(
    recipient: &Session,
    from: &str,
    message_id: Uuid,
    mut token: Option<&str>,
    sent: Instant,
) -> Result<Option<Duration>, String> {
    let wanted = message_id.to_string();
    let path = "/api/messages/inbox?limit=5";
    while sent.elapsed() < PROBE_TIMEOUT {
        let (status, body) = recipient.get_after(path, token.take()).await?;
        // 503: the token was not reached within the server's wait; poll on.
        if status == reqwest::StatusCode::OK && inbox_shows(&body, from, &wanted) {
            return Ok(Some(sent.elapsed()));
        }
        if status != reqwest::StatusCode::OK && status != reqwest::StatusCode::SERVICE_UNAVAILABLE {
            return Err(format!("GET {path} answered {status}"));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    Ok(None)
}

/// Whether an inbox answer lists `message_id` as the last message of the conversation with
/// `from`.
pub fn inbox_shows(body: &[u8], from: &str, message_id: &str) -> bool {
    let Ok(inbox) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    inbox["conversations"].as_array().is_some_and(|list| {
        list.iter().any(|c| {
            c["with"].as_str() == Some(from)
                && c["last_message"]["message_id"].as_str() == Some(message_id)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_message_is_found_only_as_the_conversations_last_message() {
        let body = br#"{"conversations":[{"with":"lag_s000","with_role":"patient",
            "display_name":"x","last_message":{"message_id":"m1","sender":"lag_s000",
            "subject":null,"preview":"p","sent_at":"t"},"unread_count":1,
            "last_activity_at":"t"}],"total_unread":1,"next_cursor":null}"#;
        assert!(inbox_shows(body, "lag_s000", "m1"));
        assert!(!inbox_shows(body, "lag_s000", "m2"));
        assert!(!inbox_shows(body, "someone", "m1"));
        assert!(!inbox_shows(b"not json", "lag_s000", "m1"));
    }
}
