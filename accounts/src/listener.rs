//! The one listener per process on `hs_accounts`: applies every change to the process's caches
//! and acknowledges barriers.
//!
//! While it is not connected, nobody can tell which changes were missed: every cache goes dark
//! (emptied, and bypassed for the database) until it is back, and starts empty then. A quiet
//! connection is pinged, so one that died silently is noticed within [`HEARTBEAT`] plus
//! [`PING_TIMEOUT`].

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::changes::{AccountCaches, APPLICATION_NAME, CHANNEL};

/// How long the listener may hear nothing before it pings its connection.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// How long a ping may take before the connection counts as lost.
pub const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Pauses between connection attempts: doubling from the first to the last.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_LAST: Duration = Duration::from_secs(5);

/// The process's listener for account changes (its own connection, beside the pool).
pub struct ChangeListener {
    task: JoinHandle<()>,
    listening: watch::Receiver<bool>,
}

impl ChangeListener {
    /// Connects to the database of `pool` and keeps `caches` correct until `stop`. The first
    /// connection is made before this returns (for at most 5 s), so a process serves its first
    /// request with its caches on; later losses are retried in the background, the caches dark
    /// meanwhile.
    pub async fn start(pool: &PgPool, caches: AccountCaches, stop: CancellationToken) -> Self {
        let options = (*pool.connect_options())
            .clone()
            .application_name(APPLICATION_NAME);
        let (status, listening) = watch::channel(false);
        let first = match connect(&options).await {
            Ok(listener) => Some(listener),
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for account changes yet: caches off");
                None
            }
        };
        let task = tokio::spawn(run(options, first, caches, status, stop));
        Self { task, listening }
    }

    /// Whether the caches are on (the listener is connected), as it changes.
    pub fn listening(&self) -> watch::Receiver<bool> {
        self.listening.clone()
    }

    /// Waits until the listener has stopped (after its `stop` token was cancelled).
    pub async fn stopped(self) {
        if let Err(err) = self.task.await {
            tracing::warn!(error = %err, "the account-changes listener ended abnormally");
        }
    }
}

async fn connect(options: &PgConnectOptions) -> Result<PgListener, sqlx::Error> {
    let attempt = async {
        // A pool of one, only so that the listener owns its connection (apart from the
        // service's pool, whose connections are recycled after faults).
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(CONNECT_TIMEOUT)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(options.clone());
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.ignore_pool_close_event(true);
        // A lost connection is ours to replace, after the caches went dark.
        listener.eager_reconnect(false);
        listener.listen(CHANNEL).await?;
        Ok(listener)
    };
    tokio::time::timeout(CONNECT_TIMEOUT, attempt)
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)?
}

/// Why [`receive`] returned.
enum Ended {
    Stopped,
    Lost(String),
}

async fn run(
    options: PgConnectOptions,
    mut connected: Option<PgListener>,
    caches: AccountCaches,
    status: watch::Sender<bool>,
    stop: CancellationToken,
) {
    let mut pause = RETRY_FIRST;
    loop {
        let mut listener = match connected.take() {
            Some(listener) => listener,
            None => {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(pause) => {}
                }
                match connect(&options).await {
                    Ok(listener) => listener,
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot listen for account changes: caches stay off");
                        pause = (pause * 2).min(RETRY_LAST);
                        continue;
                    }
                }
            }
        };
        pause = RETRY_FIRST;
        caches.set_live(true);
        status.send_replace(true);
        metrics::gauge!("account_changes_listening").set(1.0);
        tracing::info!("listening for account changes: caches on");
        let ended = receive(&mut listener, &caches, &stop).await;
        caches.set_live(false);
        status.send_replace(false);
        metrics::gauge!("account_changes_listening").set(0.0);
        match ended {
            Ended::Stopped => return,
            Ended::Lost(why) => tracing::warn!(
                cause = %why,
                "lost the account-changes listener: caches off until it is back"
            ),
        }
    }
}

async fn receive(
    listener: &mut PgListener,
    caches: &AccountCaches,
    stop: &CancellationToken,
) -> Ended {
    loop {
        let next = tokio::select! {
            () = stop.cancelled() => return Ended::Stopped,
            next = tokio::time::timeout(HEARTBEAT, listener.try_recv()) => next,
        };
        let query = match next {
            Ok(Ok(Some(notification))) => match caches.apply(notification.payload()) {
                // Everything before the barrier is applied: say so.
                Some(barrier) => sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(format!("ack {barrier}")),
                None => continue,
            },
            Ok(Ok(None)) => return Ended::Lost("the connection closed".into()),
            Ok(Err(err)) => return Ended::Lost(err.to_string()),
            // Quiet for a while: check that the connection still answers. (Should the timeout
            // ever cut a message in half, the next read fails and the caches go dark: safe.)
            Err(_) => sqlx::query("SELECT 1"),
        };
        match tokio::time::timeout(PING_TIMEOUT, query.execute(&mut *listener)).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => return Ended::Lost(err.to_string()),
            Err(_) => return Ended::Lost("no answer within the ping timeout".into()),
        }
    }
}
