//! Account changes as PostgreSQL announces them, and the one listener per process that applies
//! them to the in-process caches (sessions, users, approvals).
//!
//! Triggers on `sessions`, `users` and `patient_approvals` send `NOTIFY hs_accounts` when a change
//! commits (migration `20261202200001_account_changes.sql`), whoever made it. The listener drops
//! what each change touches from every cache of the process. While it is not connected, nobody
//! can tell which changes were missed: every cache goes dark (emptied, and bypassed for the
//! database) until the listener is back, and starts empty then. A quiet connection is pinged, so
//! a connection that died silently is noticed within [`HEARTBEAT`] plus [`PING_TIMEOUT`].

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The channel the triggers announce changes on.
pub const CHANNEL: &str = "hs_accounts";

/// The `application_name` of the listener's connection (to find it in `pg_stat_activity`).
pub const APPLICATION_NAME: &str = "hs-account-changes";

/// How long the listener may hear nothing before it pings its connection.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// How long a ping may take before the connection counts as lost.
pub const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Pauses between connection attempts: doubling from the first to the last.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_LAST: Duration = Duration::from_secs(5);

/// What changed, as a notification's payload names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountChange {
    /// A session (by the SHA-256 of its cookie token) was revoked, deleted or otherwise altered.
    Session([u8; 32]),
    /// A user was created, disabled or enabled, or their role or display name changed.
    User(String),
    /// A clinician's approval for a patient was granted, revoked or deleted.
    Approval { clinician: String, patient: String },
}

/// A payload that names no change this version knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an account change: `{0}`")]
pub struct UnknownChange(pub String);

impl FromStr for AccountChange {
    type Err = UnknownChange;

    fn from_str(payload: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownChange(payload.to_owned());
        let (kind, rest) = payload.split_once(' ').ok_or_else(unknown)?;
        let name = |s: &str| (!s.is_empty() && !s.contains(' ')).then(|| s.to_owned());
        match kind {
            "session" => {
                let mut hash = [0u8; 32];
                hex::decode_to_slice(rest, &mut hash).map_err(|_| unknown())?;
                Ok(AccountChange::Session(hash))
            }
            "user" => name(rest).map(AccountChange::User).ok_or_else(unknown),
            "approval" => {
                let (clinician, patient) = rest.split_once(' ').ok_or_else(unknown)?;
                Ok(AccountChange::Approval {
                    clinician: name(clinician).ok_or_else(unknown)?,
                    patient: name(patient).ok_or_else(unknown)?,
                })
            }
            _ => Err(unknown()),
        }
    }
}

impl fmt::Display for AccountChange {
    /// The payload the triggers send for this change.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountChange::Session(hash) => write!(f, "session {}", hex::encode(hash)),
            AccountChange::User(username) => write!(f, "user {username}"),
            AccountChange::Approval { clinician, patient } => {
                write!(f, "approval {clinician} {patient}")
            }
        }
    }
}

/// An in-process cache of account data, kept correct by the changes it is told of.
pub trait Invalidate: Send + Sync {
    /// Forgets what `change` touches.
    fn invalidate(&self, change: &AccountChange);
    /// Forgets everything and answers nothing from memory until [`Invalidate::go_live`]
    /// (changes may be missed from now on).
    fn go_dark(&self);
    /// Answers from memory again, starting empty (every change is heard from now on).
    fn go_live(&self);
}

/// Every cache of a process: what its listener keeps correct, and what its own writes
/// invalidate at once (before their notification comes back).
#[derive(Clone, Default)]
pub struct AccountCaches(Vec<Arc<dyn Invalidate>>);

impl AccountCaches {
    /// The caches `all`.
    pub fn new(all: Vec<Arc<dyn Invalidate>>) -> Self {
        Self(all)
    }

    /// Forgets what `change` touches, in every cache.
    pub fn invalidate(&self, change: &AccountChange) {
        for cache in &self.0 {
            cache.invalidate(change);
        }
    }

    fn apply(&self, payload: &str) {
        match payload.parse::<AccountChange>() {
            Ok(change) => self.invalidate(&change),
            Err(err) => {
                // Written by a newer version, or by hand: anything may have changed.
                tracing::warn!(error = %err, "forgetting every cached account");
                self.go_dark();
                self.go_live();
            }
        }
    }

    fn go_dark(&self) {
        for cache in &self.0 {
            cache.go_dark();
        }
    }

    fn go_live(&self) {
        for cache in &self.0 {
            cache.go_live();
        }
    }
}

/// The process's one listener on [`CHANNEL`] (its own connection, beside the pool).
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
        caches.go_live();
        status.send_replace(true);
        metrics::gauge!("account_changes_listening").set(1.0);
        tracing::info!("listening for account changes: caches on");
        let ended = receive(&mut listener, &caches, &stop).await;
        caches.go_dark();
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
        match next {
            Ok(Ok(Some(notification))) => caches.apply(notification.payload()),
            Ok(Ok(None)) => return Ended::Lost("the connection closed".into()),
            Ok(Err(err)) => return Ended::Lost(err.to_string()),
            // Quiet for a while: check that the connection still answers. (Should the timeout
            // ever cut a message in half, the next read fails and the caches go dark: safe.)
            Err(_) => {
                let ping = sqlx::query("SELECT 1").execute(&mut *listener);
                match tokio::time::timeout(PING_TIMEOUT, ping).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(err)) => return Ended::Lost(err.to_string()),
                    Err(_) => return Ended::Lost("no answer to a ping".into()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_read_as_the_triggers_write_them() {
        let changes = [
            AccountChange::Session([0xab; 32]),
            AccountChange::User("dr_carol".into()),
            AccountChange::Approval {
                clinician: "dr_carol".into(),
                patient: "alice".into(),
            },
        ];
        for change in changes {
            assert_eq!(change.to_string().parse(), Ok(change));
        }
    }

    #[test]
    fn unknown_payloads_are_refused() {
        for payload in [
            "",
            "user",
            "user ",
            "user a b",
            "session abc",
            "approval dr_carol",
            "approval dr_carol alice bob",
            "group admins",
        ] {
            assert!(payload.parse::<AccountChange>().is_err(), "{payload:?}");
        }
    }
}
