//! The projector runtime: one [`Runner`] per projection and the wake-up fan-out.

pub(crate) mod batch;
pub(crate) mod locks;
pub mod log;
mod runner;
mod stats;
mod waker;

use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::{watch, Notify};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use read_side::{Checkpoints, Projection};

use crate::settings::ProjectorSettings;
use runner::Runner;
pub use stats::RuntimeStats;
use waker::Waker;

/// Runs the projections of this process. Build it, hand out [`ProjectorRuntime::progress`],
/// then [`ProjectorRuntime::spawn`] (or `run`) it until the shutdown token is cancelled.
pub struct ProjectorRuntime {
    pool: PgPool,
    settings: ProjectorSettings,
    projections: Vec<Projection>,
    wakeup: Option<Arc<Notify>>,
    progress: watch::Sender<Checkpoints>,
    stats: Arc<RuntimeStats>,
}

impl ProjectorRuntime {
    /// A runtime for every projection. Each leader uses a dedicated connection made with the
    /// pool's options; `pool` itself serves only the `LISTEN hs_events` connection.
    pub fn new(pool: PgPool, settings: ProjectorSettings) -> Self {
        Self {
            pool,
            settings,
            projections: Projection::ALL.to_vec(),
            wakeup: None,
            progress: watch::Sender::new(Checkpoints::default()),
            stats: Arc::default(),
        }
    }

    /// Also wake up when `notify` is signalled (the command side calls `notify_one()` or
    /// `notify_waiters()` after each commit when it runs in this process).
    pub fn with_wakeup(mut self, notify: Arc<Notify>) -> Self {
        self.wakeup = Some(notify);
        self
    }

    /// Runs only these projections.
    pub fn with_projections(mut self, projections: &[Projection]) -> Self {
        self.projections = projections.to_vec();
        self
    }

    /// The checkpoints, updated after each committed batch (and from the stored checkpoints
    /// while this process is a standby).
    pub fn progress(&self) -> watch::Receiver<Checkpoints> {
        self.progress.subscribe()
    }

    /// Counters of this process's work.
    pub fn stats(&self) -> Arc<RuntimeStats> {
        self.stats.clone()
    }

    /// Runs on a new task until `shutdown` is cancelled.
    pub fn spawn(self, shutdown: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(self.run(shutdown))
    }

    /// Runs until `shutdown` is cancelled (dropping the future stops every task at once).
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tasks = JoinSet::new();
        let mut wakes = Vec::new();
        for projection in self.projections {
            let wake = Arc::new(Notify::new());
            wakes.push(wake.clone());
            let runner = Runner {
                projection,
                options: (*self.pool.connect_options()).clone(),
                settings: self.settings.clone(),
                wake,
                progress: self.progress.clone(),
                stats: self.stats.clone(),
            };
            tasks.spawn(runner.run(shutdown.clone()));
        }
        let waker = Waker {
            pool: self.pool,
            external: self.wakeup,
            targets: wakes,
            retry: self.settings.standby_retry,
        };
        tasks.spawn(waker.run(shutdown));
        while tasks.join_next().await.is_some() {}
    }
}
