//! Account changes as PostgreSQL announces them, and a process's caches of account data with
//! what keeps them correct.
//!
//! Triggers on `sessions`, `users` and `patient_approvals` send `NOTIFY hs_accounts` when a change
//! commits (migration `20261202200001_account_changes.sql`), whoever made it; the process's one
//! [`crate::ChangeListener`] drops what each change touches from every cache of
//! [`AccountCaches`]. A notification arrives a little after the commit, so a process that makes
//! a change (a logout, an approval revoked) [propagates](AccountCaches::propagate) it before it
//! answers: it forgets it at once itself, then sends a barrier behind it, which every listening
//! process acknowledges after it applied everything before it.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;

/// The channel the triggers announce changes on (and barriers and acknowledgements travel on).
pub const CHANNEL: &str = "hs_accounts";

/// The `application_name` of every listener's connection (to count and find them in
/// `pg_stat_activity`).
pub const APPLICATION_NAME: &str = "hs-account-changes";

/// The longest a writer waits for every listening process to confirm its change.
pub const PROPAGATION_TIMEOUT: Duration = Duration::from_secs(1);

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

/// A notification on [`CHANNEL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Notice {
    Change(AccountChange),
    /// A writer asks every listener to acknowledge once it applied everything before this.
    Barrier(String),
    /// A listener applied everything before this barrier.
    Ack(String),
}

impl FromStr for Notice {
    type Err = UnknownChange;

    fn from_str(payload: &str) -> Result<Self, Self::Err> {
        let id = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        if let Some(barrier) = payload.strip_prefix("barrier ").and_then(id) {
            return Ok(Notice::Barrier(barrier));
        }
        if let Some(barrier) = payload.strip_prefix("ack ").and_then(id) {
            return Ok(Notice::Ack(barrier));
        }
        payload.parse().map(Notice::Change)
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

/// A barrier this process waits for; forgotten when dropped.
struct Waiting<'a> {
    caches: &'a AccountCaches,
    barrier: &'a str,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.caches.hub().waiting.remove(self.barrier);
    }
}

/// Every cache of a process, with what keeps them correct: the changes its listener hears, and
/// the changes its own writes [propagate](AccountCaches::propagate). Clones share them.
#[derive(Clone, Default)]
pub struct AccountCaches(Arc<Mutex<Hub>>);

#[derive(Default)]
struct Hub {
    caches: Vec<Arc<dyn Invalidate>>,
    /// Whether the listener is connected (every change is heard).
    live: bool,
    /// Barriers this process sent, with the acknowledgements heard so far.
    waiting: HashMap<String, watch::Sender<usize>>,
}

impl AccountCaches {
    fn hub(&self) -> MutexGuard<'_, Hub> {
        // Nothing panics while holding the lock; should it ever, the hub is still consistent.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `cache`: kept correct from now on (live at once when the listener is).
    pub fn register(&self, cache: Arc<dyn Invalidate>) {
        let mut hub = self.hub();
        if hub.live {
            cache.go_live();
        }
        hub.caches.push(cache);
    }

    /// Whether the caches answer from memory (the listener is connected).
    pub fn is_live(&self) -> bool {
        self.hub().live
    }

    /// Forgets what `change` touches, in every cache of this process.
    pub fn invalidate(&self, change: &AccountChange) {
        for cache in &self.hub().caches {
            cache.invalidate(change);
        }
    }

    /// After `change` committed: forgets it in this process at once, then waits (at most
    /// [`PROPAGATION_TIMEOUT`]) until every process that listens for account changes has
    /// applied it, so that no process answers from memory what the change ended once this
    /// returns. Never fails: without confirmation the other processes still apply the change
    /// when its notification reaches them, a few milliseconds later, and the cause is logged.
    pub async fn propagate(&self, pool: &PgPool, change: &AccountChange) {
        self.invalidate(change);
        if !self.is_live() {
            // Without our listener no acknowledgement can be heard; the caches are off here.
            return;
        }
        let barrier = format!("{:032x}", rand::random::<u128>());
        let (sender, mut acks) = watch::channel(0);
        self.hub().waiting.insert(barrier.clone(), sender);
        // Forgotten however this ends (a request dropped mid-wait included).
        let _waiting = Waiting {
            caches: self,
            barrier: &barrier,
        };
        if let Err(why) = self.confirmations(pool, &barrier, &mut acks).await {
            tracing::warn!(change = %change, cause = %why,
                "a change was not confirmed by every process; they apply it when it reaches them");
        }
    }

    /// Sends the barrier and counts the listeners in one statement, then waits for as many
    /// acknowledgements.
    async fn confirmations(
        &self,
        pool: &PgPool,
        barrier: &str,
        acks: &mut watch::Receiver<usize>,
    ) -> Result<(), String> {
        let listeners: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM pg_stat_activity
                     WHERE application_name = $1 AND datname = current_database())
             FROM (SELECT pg_notify($2, $3)) AS sent",
        )
        .bind(APPLICATION_NAME)
        .bind(CHANNEL)
        .bind(format!("barrier {barrier}"))
        .fetch_one(pool)
        .await
        .map_err(|err| err.to_string())?;
        let expected = usize::try_from(listeners).unwrap_or(0);
        let heard = tokio::time::timeout(PROPAGATION_TIMEOUT, acks.wait_for(|n| *n >= expected))
            .await
            .map(|confirmed| confirmed.is_ok());
        match heard {
            Ok(true) => Ok(()),
            Ok(false) => Err("the listener stopped".into()),
            Err(_) => Err(format!(
                "{} of {expected} processes within {PROPAGATION_TIMEOUT:?}",
                *acks.borrow()
            )),
        }
    }

    /// Applies a notification; returns the barrier to acknowledge, if it was one.
    pub(crate) fn apply(&self, payload: &str) -> Option<String> {
        match payload.parse::<Notice>() {
            Ok(Notice::Change(change)) => self.invalidate(&change),
            Ok(Notice::Barrier(barrier)) => return Some(barrier),
            Ok(Notice::Ack(barrier)) => {
                if let Some(acks) = self.hub().waiting.get(&barrier) {
                    acks.send_modify(|n| *n += 1);
                }
            }
            Err(err) => {
                // Written by a newer version, or by hand: anything may have changed.
                tracing::warn!(error = %err, "forgetting every cached account");
                self.set_live(false);
                self.set_live(true);
            }
        }
        None
    }

    /// Turns every cache on (the listener connected) or off (it is lost).
    pub(crate) fn set_live(&self, live: bool) {
        let mut hub = self.hub();
        hub.live = live;
        for cache in &hub.caches {
            if live {
                cache.go_live();
            } else {
                cache.go_dark();
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
            assert_eq!(change.to_string().parse(), Ok(change.clone()));
            assert_eq!(change.to_string().parse(), Ok(Notice::Change(change)));
        }
        assert_eq!("barrier 1f".parse(), Ok(Notice::Barrier("1f".into())));
        assert_eq!("ack 1f".parse(), Ok(Notice::Ack("1f".into())));
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
            "barrier ",
            "ack ",
        ] {
            assert!(payload.parse::<Notice>().is_err(), "{payload:?}");
        }
    }

    #[test]
    fn acknowledgements_count_only_for_barriers_this_process_waits_for() {
        let caches = AccountCaches::default();
        let (sender, acks) = watch::channel(0);
        caches.hub().waiting.insert("mine".into(), sender);
        assert_eq!(caches.apply("barrier theirs"), Some("theirs".into()));
        assert_eq!(caches.apply("ack theirs"), None);
        caches.apply("ack mine");
        caches.apply("ack mine");
        assert_eq!(*acks.borrow(), 2);
    }
}
