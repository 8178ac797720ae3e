//! The four reads of the query API, each from clients logged in as realistic users: users are
//! drawn with the same skew as the history, so the heavy users (whose inbox and search cover
//! thousands of messages) are among them.

use std::sync::Arc;

use indicatif::ProgressBar;
use rand::rngs::StdRng;
use rand::SeedableRng;
use reqwest::StatusCode;
use serde::Serialize;

use crate::client::{prefix, Session};
use crate::data::skew::Zipf;
use crate::data::text::TOPICS;
use crate::data::{Activity, Population};
use crate::measurement::Measurement;
use crate::runner::{closed_loop, StepTiming};

/// One of the measured reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryKind {
    Inbox,
    Sent,
    Conversation,
    Search,
}

impl QueryKind {
    pub const ALL: [QueryKind; 4] = [
        QueryKind::Inbox,
        QueryKind::Sent,
        QueryKind::Conversation,
        QueryKind::Search,
    ];

    /// The figure's name.
    pub fn name(self) -> &'static str {
        match self {
            QueryKind::Inbox => "inbox",
            QueryKind::Sent => "sent",
            QueryKind::Conversation => "conversation",
            QueryKind::Search => "search",
        }
    }

    /// The request a client of `probe` sends (first page, default limit).
    pub fn path(self, probe: &Probe) -> String {
        match self {
            QueryKind::Inbox => "/api/messages/inbox".into(),
            QueryKind::Sent => "/api/messages/sent".into(),
            QueryKind::Conversation => format!("/api/messages/conversation/{}", probe.counterpart),
            QueryKind::Search => format!("/api/messages/search?q={}", probe.word),
        }
    }
}

/// Who a query client is and what it asks for. pgbench client `i` runs the same probe as
/// service client `i` (table `bench_probes`, `idx = i + 1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Probe {
    pub username: String,
    pub counterpart: String,
    pub word: String,
}

/// `count` probes: users ranked by how many messages they have, drawn with Zipf skew (the
/// heaviest users come up often, light ones too), each with their first counterpart and a
/// topic word to search for.
pub fn pick_probes(
    population: &Population,
    activity: &Activity,
    count: usize,
    seed: u64,
) -> Vec<Probe> {
    let mut ranked: Vec<u32> = (0..population.people())
        .filter(|&u| {
            activity
                .counterpart
                .get(u as usize)
                .is_some_and(|&c| c != u32::MAX)
        })
        .collect();
    ranked.sort_by_key(|&u| std::cmp::Reverse(activity.messages.get(u as usize).copied()));
    if ranked.is_empty() {
        return Vec::new();
    }
    let zipf = Zipf::new(u32::try_from(ranked.len()).unwrap_or(u32::MAX), 1.0);
    let mut rng = StdRng::seed_from_u64(seed ^ 0x9e37);
    (0..count)
        .map(|i| {
            let user = ranked[zipf.sample(&mut rng) as usize];
            let counterpart = activity.counterpart[user as usize];
            Probe {
                username: population.username(user),
                counterpart: population.username(counterpart),
                word: TOPICS[i % TOPICS.len()].to_owned(),
            }
        })
        .collect()
}

/// Whether the endpoint answers 200 for `probe`; `Err` says why not (a missing endpoint
/// answers 404 before the query service is wired into the gateway).
pub async fn check_available(
    session: &Session,
    kind: QueryKind,
    probe: &Probe,
) -> Result<(), String> {
    let path = kind.path(probe);
    let (status, body) = session.get(&path).await?;
    match status {
        StatusCode::OK => Ok(()),
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => Err(format!(
            "GET {path} answered {status} (endpoint not served by this gateway)"
        )),
        _ => Err(format!(
            "GET {path} answered {status}: {}",
            prefix(&String::from_utf8_lossy(&body))
        )),
    }
}

/// `clients` concurrent readers of `kind` for one step.
pub async fn measure_query(
    readers: &[Arc<Session>],
    probes: &[Probe],
    kind: QueryKind,
    clients: usize,
    timing: StepTiming,
    bar: &ProgressBar,
) -> Measurement {
    let work = readers
        .iter()
        .zip(probes)
        .take(clients)
        .map(|(session, probe)| (session.clone(), kind.path(probe)))
        .collect();
    measure_gets(work, timing, bar).await
}

/// `GET /healthz` (no session, no database) from `clients` of `readers`: what HTTP alone costs
/// on this machine, the harness's client included.
pub async fn measure_http_floor(
    readers: &[Arc<Session>],
    clients: usize,
    timing: StepTiming,
    bar: &ProgressBar,
) -> Measurement {
    let work = readers
        .iter()
        .take(clients)
        .map(|session| (session.clone(), "/healthz".to_owned()))
        .collect();
    measure_gets(work, timing, bar).await
}

/// Each `(session, path)` of `work` a closed-loop client expecting 200.
async fn measure_gets(
    work: Vec<(Arc<Session>, String)>,
    timing: StepTiming,
    bar: &ProgressBar,
) -> Measurement {
    let work = Arc::new(work);
    closed_loop(work.len(), timing, bar, move |client, _| {
        let work = work.clone();
        async move {
            let Some((session, path)) = work.get(client) else {
                return Err("no session".to_owned());
            };
            session.get_ok(path).await.map(|_| ())
        }
    })
    .await
}
