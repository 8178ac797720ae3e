//! Waking the projector after a commit, never inside the append transaction.
//!
//! In one process the projector listens on an in-process `Notify`. When the projector runs in
//! another process, a relay task turns signals into `NOTIFY hs_events`, at most one per debounce
//! interval (a NOTIFY inside every append would take a global lock at commit).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::PgPool;
use tokio::sync::Notify;

/// Work run after each commit, before the command answers (an observer: it cannot fail the
/// command). Tests use it to break the database between a commit and its answer.
pub type AfterCommit = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// The channel the projector `LISTEN`s on.
pub use read_side::EVENTS_CHANNEL;

/// Tells whoever projects the log that new events were committed.
#[derive(Clone, Default)]
pub struct CommitSignal {
    targets: Vec<Arc<Notify>>,
    observers: Vec<AfterCommit>,
}

impl CommitSignal {
    /// Wakes the given in-process projector.
    pub fn in_process(projector: Arc<Notify>) -> Self {
        Self {
            targets: vec![projector],
            observers: Vec::new(),
        }
    }

    /// Relays commits as debounced `NOTIFY hs_events` on `pool` (for a projector in another
    /// process). The relay task ends with the runtime.
    pub fn relay_to_postgres(pool: PgPool, debounce: Duration) -> Self {
        let notify = Arc::new(Notify::new());
        let wake = notify.clone();
        tokio::spawn(async move {
            loop {
                wake.notified().await;
                if let Err(err) = sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(EVENTS_CHANNEL)
                    .bind(read_side::process_mark())
                    .execute(&pool)
                    .await
                {
                    // The projector's fallback poll still picks the events up.
                    tracing::warn!(error = %err, "could not notify the projector");
                }
                tokio::time::sleep(debounce).await;
            }
        });
        Self {
            targets: vec![notify],
            observers: Vec::new(),
        }
    }

    /// Signals both `self`'s targets and `other`'s (an in-process projector and, through
    /// PostgreSQL, those of other processes).
    pub fn also(mut self, other: CommitSignal) -> Self {
        self.targets.extend(other.targets);
        self.observers.extend(other.observers);
        self
    }

    /// Also runs `observer` after every commit.
    pub fn with_observer(mut self, observer: AfterCommit) -> Self {
        self.observers.push(observer);
        self
    }

    /// Signals a commit (cheap; coalesces while nobody is waiting), then runs the observers.
    pub async fn committed(&self) {
        for target in &self.targets {
            target.notify_one();
        }
        for observer in &self.observers {
            observer().await;
        }
    }
}
