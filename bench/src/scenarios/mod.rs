//! The measured workloads against the running gateway: sends, the four reads, and the
//! projection lag. Each client logs in once and keeps its session.

pub mod lag;
pub mod notifications;
pub mod queries;
pub mod sends;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::client::{LoginAttempt, Session};
use crate::data::PASSWORD;
use crate::error::{BenchError, BenchResult};

/// Logs every user of `usernames` in (a few at a time: a login is a deliberately slow argon2
/// verification).
pub async fn login_all(port: u16, usernames: Vec<String>) -> BenchResult<Vec<Arc<Session>>> {
    futures::stream::iter(usernames)
        .map(|username| async move {
            Session::login(port, &username, PASSWORD)
                .await
                .map(Arc::new)
        })
        .buffered(4)
        .try_collect()
        .await
}

/// What a flood of logins sent all at once did to the gateway.
#[derive(Debug, Clone, Serialize)]
pub struct LoginFlood {
    /// Logins sent at once (each a different user); every one got in in the end.
    pub logins: usize,
    /// 503 answers on the way (each retried after its `Retry-After`).
    pub busy_answers: u64,
    /// From the first request to the last login in.
    pub seconds: f64,
    /// Gateway VmRSS before the flood and when every login was in.
    pub rss_before_bytes: u64,
    pub rss_after_bytes: u64,
}

impl LoginFlood {
    /// The figure in one line, for the table and the Markdown report.
    pub fn line(&self) -> String {
        format!(
            "{} logins at once: all in after {:.1} s, {} answers 503 + Retry-After on the way; \
             gateway RSS {:.0} -> {:.0} MiB",
            self.logins,
            self.seconds,
            self.busy_answers,
            self.rss_before_bytes as f64 / (1024.0 * 1024.0),
            self.rss_after_bytes as f64 / (1024.0 * 1024.0)
        )
    }
}

/// Longest a flood may take before the step gives up.
const FLOOD_DEADLINE: Duration = Duration::from_secs(300);

/// Sends a login for every user of `usernames` at the same moment, retrying each 503 after its
/// `Retry-After`, until all are in; answers how many 503s it took and how long. The sessions
/// are dropped (they expire as any other).
pub async fn login_flood(port: u16, usernames: Vec<String>) -> BenchResult<(usize, u64, f64)> {
    let started = Instant::now();
    let logins = usernames.len();
    let tasks: Vec<_> = usernames
        .into_iter()
        .map(|username| {
            tokio::spawn(async move {
                let mut busy = 0u64;
                loop {
                    match Session::try_login(port, &username, PASSWORD).await? {
                        LoginAttempt::In(_) => return Ok(busy),
                        LoginAttempt::Busy(wait) => {
                            busy += 1;
                            if started.elapsed() > FLOOD_DEADLINE {
                                return Err(BenchError::Gateway(format!(
                                    "login flood: {username} still refused after {} s",
                                    FLOOD_DEADLINE.as_secs()
                                )));
                            }
                            tokio::time::sleep(wait).await;
                        }
                    }
                }
            })
        })
        .collect();
    let mut busy_answers = 0;
    for task in tasks {
        busy_answers += task
            .await
            .map_err(|e| BenchError::Gateway(format!("login flood task: {e}")))??;
    }
    Ok((logins, busy_answers, started.elapsed().as_secs_f64()))
}
