//! Hot standbys the query side reads from (`QUERY_DATABASE_URL`).
//!
//! Each replica has a read pool and a poller: one connection of its own that reads, every
//! `REPLICA_POLL_MS`, the replica's `projection_checkpoints` (they replicate with the read
//! tables, so a replica holding a checkpoint holds the rows up to it) and its recovery state
//! (reachable, replay paused, replay lag). `NOTIFY` does not reach a standby, so a request
//! waiting for its token on a replica registers as a waiter: while anyone waits, the poller
//! reads every `REPLICA_FAST_POLL_MS` instead. Replay only moves forward, so once a poll has
//! seen a replica past a token, every later read on that server sees the token's effect too:
//! each URL must name one server (not a load balancer over several).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{Object, Pool, Timeouts};
use events::LogPosition;
use futures::future::{select_ok, BoxFuture, FutureExt};
use read_side::Checkpoints;
use serde::Serialize;
use tokio::sync::{watch, Notify};
use tokio_postgres::NoTls;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::db::{pg_config, read_pool};
use crate::error::QueryError;
use crate::settings::ReplicaSettings;

/// The longest a poll (connecting included) may take before the replica counts as unreachable.
const POLL_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a read waits for a connection of a replica before it goes elsewhere.
const REPLICA_CONNECTION_WAIT: Duration = Duration::from_secs(1);

/// The replica's recovery state, in one statement.
const STATUS_SQL: &str = "SELECT pg_is_in_recovery(),
        CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END,
        CASE WHEN NOT pg_is_in_recovery()
                  OR pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn()
             THEN 0::float8
             ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8, 0)
        END";

const CHECKPOINTS_SQL: &str =
    "SELECT projection, transaction_id::text, global_position FROM projection_checkpoints";

/// What the last poll of a replica found (`/readyz` shows it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicaStatus {
    /// `host:port/database` (never the password).
    pub name: String,
    /// The last poll answered, within the last few poll intervals.
    pub reachable: bool,
    /// WAL replay is paused (`pg_wal_replay_pause()`).
    pub paused: bool,
    /// Whether the server is in recovery (a standby); `false` for a primary named as replica.
    pub in_recovery: bool,
    /// Replay lag in seconds: 0 when everything received is replayed, else the age of the last
    /// replayed transaction. `None` before the first answer.
    pub lag_seconds: Option<f64>,
    /// The most events any projection on the replica is behind the primary's checkpoint.
    pub behind_events: Option<i64>,
    /// Further behind than `REPLICA_MAX_LAG_MS`: by replay lag, or because its checkpoints lack
    /// what the primary's held that long ago (a standby cut off from its primary replays
    /// nothing and shows no replay lag). A lagging replica gets no reads without a token.
    pub lagging: bool,
    /// When the last answer came.
    #[serde(skip)]
    pub answered_at: Option<Instant>,
}

impl ReplicaStatus {
    fn new(name: String) -> Self {
        Self {
            name,
            reachable: false,
            paused: false,
            in_recovery: false,
            lag_seconds: None,
            behind_events: None,
            lagging: false,
            answered_at: None,
        }
    }

    /// Whether reads without a token may go here: reachable, answered within `stale_after`
    /// and not lagging.
    pub fn healthy(&self, stale_after: Duration, now: Instant) -> bool {
        self.reachable
            && !self.lagging
            && self
                .answered_at
                .is_some_and(|at| now.saturating_duration_since(at) <= stale_after)
    }

    /// Whether a read with a token may wait for this replica to replay it.
    fn can_catch_up(&self) -> bool {
        self.reachable && !self.paused
    }
}

/// The replicas in the order a read tries them: round robin from `start`.
pub(crate) fn order(count: usize, start: usize) -> impl Iterator<Item = usize> {
    (0..count).map(move |k| (start + k) % count)
}

/// How far `replica` is behind `primary`: the largest gap in `global_position` over the
/// primary's projections (a projection the replica lacks counts from 0).
pub(crate) fn behind_events(primary: &Checkpoints, replica: &Checkpoints, names: &[&str]) -> i64 {
    names
        .iter()
        .filter_map(|name| {
            let ahead = primary.get(name)?.global_position;
            let there = replica.get(name).map_or(0, |p| p.global_position);
            Some((ahead - there).max(0))
        })
        .max()
        .unwrap_or(0)
}

/// The primary's checkpoints as this process saw them change over the last `max_lag` (and the
/// last value older than that), each with the time it was first seen.
#[derive(Debug, Default)]
pub(crate) struct PrimaryHistory(VecDeque<(Instant, Checkpoints)>);

impl PrimaryHistory {
    pub(crate) fn record(&mut self, at: Instant, primary: &Checkpoints, max_lag: Duration) {
        if self.0.back().map(|(_, known)| known) != Some(primary) {
            self.0.push_back((at, primary.clone()));
        }
        while self.0.len() >= 2
            && self
                .0
                .get(1)
                .is_some_and(|(seen, _)| at.saturating_duration_since(*seen) >= max_lag)
        {
            self.0.pop_front();
        }
    }

    /// Whether `replica` lacks what the primary's projections held `max_lag` before `now`.
    pub(crate) fn outran(&self, replica: &Checkpoints, max_lag: Duration, now: Instant) -> bool {
        self.0
            .iter()
            .rev()
            .find(|(seen, _)| now.saturating_duration_since(*seen) >= max_lag)
            .is_some_and(|(_, then)| {
                let names = primary_names(then);
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                behind_events(then, replica, &names) > 0
            })
    }
}

struct Replica {
    name: String,
    pool: Pool,
    checkpoints: watch::Receiver<Checkpoints>,
    status: watch::Receiver<ReplicaStatus>,
    /// Requests waiting on this replica now; the poller polls fast while there are any.
    waiters: AtomicUsize,
    /// Wakes the poller at once when a request starts waiting.
    wake: Notify,
}

/// A registered waiter; unregisters when dropped.
struct Waiting<'a>(&'a Replica);

impl<'a> Waiting<'a> {
    fn new(replica: &'a Replica) -> Self {
        replica.waiters.fetch_add(1, Ordering::SeqCst);
        replica.wake.notify_one();
        Self(replica)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Replica {
    async fn connection(&self) -> Option<Object> {
        let timeouts = Timeouts {
            wait: Some(REPLICA_CONNECTION_WAIT),
            create: Some(POLL_TIMEOUT),
            recycle: Some(POLL_TIMEOUT),
        };
        match self.pool.timeout_get(&timeouts).await {
            Ok(client) => Some(client),
            Err(error) => {
                tracing::warn!(replica = %self.name, %error, "no connection to the replica");
                None
            }
        }
    }

    /// Waits until the replica's checkpoints reach `token` for every one of `names`.
    async fn reached(&self, names: &[&str], token: LogPosition) -> Result<(), ()> {
        let _waiting = Waiting::new(self);
        let mut checkpoints = self.checkpoints.clone();
        let reached = checkpoints
            .wait_for(|c| c.reached(names, token))
            .await
            .is_ok();
        if reached {
            Ok(())
        } else {
            Err(())
        }
    }
}

/// The replicas of `QUERY_DATABASE_URL` and their pollers (which stop when the last clone is
/// dropped).
#[derive(Clone)]
pub struct ReplicaSet {
    replicas: Arc<Vec<Replica>>,
    next: Arc<AtomicUsize>,
    settings: ReplicaSettings,
    _stop: Arc<DropGuard>,
}

impl ReplicaSet {
    /// Pools (of `pool_size` connections each) and pollers for `urls`; `primary` is the
    /// primary's progress, to tell how far behind each replica is. Must be called within a
    /// tokio runtime.
    pub fn start(
        urls: &[&str],
        settings: ReplicaSettings,
        pool_size: usize,
        primary: watch::Receiver<Checkpoints>,
    ) -> Result<Self, QueryError> {
        let stop = CancellationToken::new();
        let mut replicas = Vec::with_capacity(urls.len());
        let mut pollers = Vec::with_capacity(urls.len());
        for url in urls {
            let config = pg_config(url)?;
            let name = display_name(&config);
            let pool = read_pool(config.clone(), pool_size)?;
            let (checkpoints_tx, checkpoints) = watch::channel(Checkpoints::default());
            let (status_tx, status) = watch::channel(ReplicaStatus::new(name.clone()));
            replicas.push(Replica {
                name,
                pool,
                checkpoints,
                status,
                waiters: AtomicUsize::new(0),
                wake: Notify::new(),
            });
            pollers.push((config, checkpoints_tx, status_tx));
        }
        let replicas = Arc::new(replicas);
        for (index, (config, checkpoints_tx, status_tx)) in pollers.into_iter().enumerate() {
            tokio::spawn(
                Poller {
                    replicas: replicas.clone(),
                    index,
                    config,
                    settings,
                    primary: primary.clone(),
                    checkpoints: checkpoints_tx,
                    status: status_tx,
                }
                .run(stop.clone()),
            );
        }
        Ok(Self {
            replicas,
            next: Arc::new(AtomicUsize::new(0)),
            settings,
            _stop: Arc::new(stop.drop_guard()),
        })
    }

    /// What the last poll of each replica found.
    pub fn statuses(&self) -> Vec<ReplicaStatus> {
        self.replicas
            .iter()
            .map(|r| r.status.borrow().clone())
            .collect()
    }

    /// How long a read with a token waits for a replica once the primary has the token.
    pub(crate) fn wait(&self) -> Duration {
        self.settings.wait
    }

    fn start_index(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// A connection to a healthy replica (round robin), for a read without a token.
    pub(crate) async fn healthy(&self) -> Option<Object> {
        let now = Instant::now();
        let stale_after = self.settings.max_lag.max(self.settings.poll * 3);
        for index in order(self.replicas.len(), self.start_index()) {
            let replica = &self.replicas[index];
            let fits = replica.status.borrow().healthy(stale_after, now);
            if fits {
                if let Some(client) = replica.connection().await {
                    return Some(client);
                }
            }
        }
        None
    }

    /// A connection to a replica that has already applied `token` to every one of `names`.
    pub(crate) async fn holding(&self, names: &[&str], token: LogPosition) -> Option<Object> {
        for index in order(self.replicas.len(), self.start_index()) {
            let replica = &self.replicas[index];
            let fits = replica.status.borrow().reachable
                && replica.checkpoints.borrow().reached(names, token);
            if fits {
                if let Some(client) = replica.connection().await {
                    return Some(client);
                }
            }
        }
        None
    }

    /// Waits at most `limit` for any replica that can catch up to apply `token` to every one
    /// of `names`, and gives a connection to it. `None` at once when no replica can catch up
    /// (all paused or unreachable).
    pub(crate) async fn wait_holding(
        &self,
        names: &[&str],
        token: LogPosition,
        limit: Duration,
    ) -> Option<Object> {
        let waits: Vec<BoxFuture<'_, Result<usize, ()>>> = self
            .replicas
            .iter()
            .enumerate()
            .filter(|(_, r)| r.status.borrow().can_catch_up())
            .map(|(i, r)| {
                r.reached(names, token)
                    .map(move |done| done.map(|()| i))
                    .boxed()
            })
            .collect();
        if waits.is_empty() {
            return None;
        }
        match tokio::time::timeout(limit, select_ok(waits)).await {
            Ok(Ok((index, _))) => self.replicas[index].connection().await,
            Ok(Err(())) | Err(_) => None,
        }
    }
}

/// `host:port/database` of a replica, for logs, metrics and `/readyz`.
fn display_name(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or("");
    format!("{host}:{port}/{db}")
}

struct Poller {
    replicas: Arc<Vec<Replica>>,
    index: usize,
    config: tokio_postgres::Config,
    settings: ReplicaSettings,
    primary: watch::Receiver<Checkpoints>,
    checkpoints: watch::Sender<Checkpoints>,
    status: watch::Sender<ReplicaStatus>,
}

/// What one poll read.
struct Polled {
    in_recovery: bool,
    paused: bool,
    lag_seconds: f64,
    checkpoints: Checkpoints,
}

#[derive(Debug, thiserror::Error)]
enum PollError {
    #[error(transparent)]
    Database(#[from] tokio_postgres::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("unreadable checkpoint: {0}")]
    Checkpoint(String),
}

impl Poller {
    async fn run(self, stop: CancellationToken) {
        let replica = &self.replicas[self.index];
        let mut client: Option<tokio_postgres::Client> = None;
        let mut was_reachable = None;
        let mut history = PrimaryHistory::default();
        loop {
            let polled = match tokio::time::timeout(POLL_TIMEOUT, self.poll(&mut client)).await {
                Ok(result) => result,
                Err(_) => Err(PollError::Timeout(POLL_TIMEOUT)),
            };
            let reachable = polled.is_ok();
            if was_reachable != Some(reachable) {
                match &polled {
                    Ok(_) => tracing::info!(replica = %replica.name, "replica reachable"),
                    Err(error) => {
                        tracing::warn!(replica = %replica.name, %error, "replica unreachable")
                    }
                }
                was_reachable = Some(reachable);
            }
            match polled {
                Ok(polled) => self.publish(polled, &mut history),
                Err(_) => {
                    client = None;
                    self.status.send_modify(|s| s.reachable = false);
                }
            }
            self.record_metrics();
            let interval = if replica.waiters.load(Ordering::SeqCst) > 0 && reachable {
                self.settings.fast_poll
            } else {
                self.settings.poll
            };
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = replica.wake.notified() => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    async fn poll(&self, client: &mut Option<tokio_postgres::Client>) -> Result<Polled, PollError> {
        if client.as_ref().is_some_and(|c| c.is_closed()) {
            *client = None;
        }
        let client = match client {
            Some(client) => client,
            None => {
                let mut config = self.config.clone();
                config.application_name("hs-replica-poll");
                let (connected, connection) = config.connect(NoTls).await?;
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "replica poll connection ended");
                    }
                });
                client.insert(connected)
            }
        };
        let (status, rows) = futures::try_join!(
            client.query_one(STATUS_SQL, &[]),
            client.query(CHECKPOINTS_SQL, &[])
        )?;
        let mut checkpoints = Checkpoints::default();
        for row in rows {
            let name: String = row.try_get(0)?;
            let xid: String = row.try_get(1)?;
            let global_position: i64 = row.try_get(2)?;
            let transaction_id = xid
                .parse()
                .map_err(|_| PollError::Checkpoint(format!("{name}: {xid}")))?;
            checkpoints.advance(
                &name,
                LogPosition {
                    transaction_id,
                    global_position,
                },
            );
        }
        Ok(Polled {
            in_recovery: status.try_get(0)?,
            paused: status.try_get(1)?,
            lag_seconds: status.try_get::<_, f64>(2)?.max(0.0),
            checkpoints,
        })
    }

    fn publish(&self, polled: Polled, history: &mut PrimaryHistory) {
        let primary = self.primary.borrow().clone();
        let now = Instant::now();
        let max_lag = self.settings.max_lag;
        history.record(now, &primary, max_lag);
        let outran = history.outran(&polled.checkpoints, max_lag, now);
        // Replaced, not merged: what the server holds now is the truth, even should a rebuilt
        // standby behind the same URL hold less than its predecessor did.
        self.checkpoints.send_if_modified(|known| {
            let changed = *known != polled.checkpoints;
            *known = polled.checkpoints;
            changed
        });
        let names: Vec<String> = primary_names(&primary);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let behind = behind_events(&primary, &self.checkpoints.borrow(), &names);
        self.status.send_modify(|s| {
            s.reachable = true;
            s.in_recovery = polled.in_recovery;
            s.paused = polled.paused;
            s.lag_seconds = Some(polled.lag_seconds);
            s.behind_events = Some(behind);
            s.lagging = outran || polled.lag_seconds > max_lag.as_secs_f64();
            s.answered_at = Some(now);
        });
    }

    fn record_metrics(&self) {
        let status = self.status.borrow().clone();
        let name = status.name;
        metrics::gauge!("hs_replica_up", "replica" => name.clone()).set(if status.reachable {
            1.0
        } else {
            0.0
        });
        if let Some(lag) = status.lag_seconds {
            metrics::gauge!("hs_replica_lag_seconds", "replica" => name.clone()).set(lag);
        }
        if let Some(behind) = status.behind_events {
            metrics::gauge!("hs_replica_behind_events", "replica" => name).set(behind as f64);
        }
    }
}

fn primary_names(primary: &Checkpoints) -> Vec<String> {
    read_side::Projection::ALL
        .iter()
        .map(|p| p.name().to_owned())
        .filter(|name| primary.get(name).is_some())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(global_position: i64) -> LogPosition {
        LogPosition {
            transaction_id: 1,
            global_position,
        }
    }

    #[test]
    fn reads_go_round_robin() {
        assert_eq!(order(3, 4).collect::<Vec<_>>(), [1, 2, 0]);
        assert_eq!(order(0, 4).count(), 0);
    }

    #[test]
    fn health_needs_a_recent_answer_and_no_lag() {
        let now = Instant::now();
        let mut status = ReplicaStatus::new("r:5432/hs".into());
        let stale = Duration::from_secs(5);
        assert!(!status.healthy(stale, now), "never answered");
        status.reachable = true;
        status.lag_seconds = Some(0.2);
        status.answered_at = Some(now);
        assert!(status.healthy(stale, now));
        status.lagging = true;
        assert!(!status.healthy(stale, now), "too far behind");
        status.lagging = false;
        assert!(
            !status.healthy(stale, now + Duration::from_secs(6)),
            "stale"
        );
        status.reachable = false;
        assert!(!status.healthy(stale, now), "unreachable");
        status.reachable = true;
        status.paused = true;
        assert!(status.healthy(stale, now), "paused but current");
        assert!(!status.can_catch_up(), "but never waited on");
    }

    #[test]
    fn a_replica_lacking_what_the_primary_held_max_lag_ago_has_been_outrun() {
        let max_lag = Duration::from_secs(5);
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let primary = |n: i64| {
            let mut c = Checkpoints::default();
            c.advance("mailbox", pos(n));
            c
        };
        let mut history = PrimaryHistory::default();
        history.record(at(0), &primary(10), max_lag);
        history.record(at(2), &primary(10), max_lag);
        history.record(at(3), &primary(20), max_lag);
        let (old, new) = (primary(10), primary(20));
        assert!(
            !history.outran(&old, max_lag, at(4)),
            "nothing is 5 s old yet"
        );
        assert!(
            !history.outran(&old, max_lag, at(7)),
            "10 is what it had 5 s ago"
        );
        assert!(
            history.outran(&old, max_lag, at(8)),
            "20 since 3 s, 5 s ago"
        );
        assert!(!history.outran(&new, max_lag, at(8)));
        // An idle primary: its one value, however old, is what the replica must hold.
        history.record(at(60), &primary(20), max_lag);
        assert!(history.outran(&old, max_lag, at(60)));
        assert!(!history.outran(&new, max_lag, at(60)));
        assert_eq!(history.0.len(), 1, "older values are dropped");
    }

    #[test]
    fn behind_is_the_largest_gap_over_the_primary_projections() {
        let mut primary = Checkpoints::default();
        primary.advance("mailbox", pos(10));
        primary.advance("messages", pos(7));
        let mut replica = Checkpoints::default();
        replica.advance("mailbox", pos(9));
        let names = ["mailbox", "messages"];
        assert_eq!(behind_events(&primary, &replica, &names), 7);
        replica.advance("messages", pos(7));
        assert_eq!(behind_events(&primary, &replica, &names), 1);
        replica.advance("mailbox", pos(12));
        assert_eq!(behind_events(&primary, &replica, &names), 0);
    }

    #[test]
    fn names_show_no_password() {
        let config = pg_config("postgres://u:secret@db.internal:5433/hs").expect("a URL");
        assert_eq!(display_name(&config), "db.internal:5433/hs");
    }
}
