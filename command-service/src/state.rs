//! The command service's one state.

use std::sync::Arc;

use accounts::{AccountChange, ChangeListener, PgDirectory};
use axum::extract::FromRef;
use cqrs_es::persist::PersistedEventStore;
use events::Message;
use http_edge::Edge;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::signal::CommitSignal;
use crate::store::EventStore;
use crate::streams::Writer;

/// cqrs-es over the events table, appending through [`EventStore`].
pub type MessageStore = PersistedEventStore<EventStore, Message>;

/// Shared by every command handler.
#[derive(Clone)]
pub struct CommandState {
    pub edge: Edge,
    pub pool: PgPool,
    /// Loads messages and appends their events (optimistic concurrency).
    pub store: Arc<MessageStore>,
    pub signal: CommitSignal,
    /// The domain's services (users, roles, approvals), cached beside the edge's sessions.
    pub directory: events::MessagingServices,
}

impl CommandState {
    /// State over `pool`, waking the projector through `signal` after each commit. Its caches
    /// stay off until [`CommandState::listen_for_account_changes`].
    pub fn new(pool: PgPool, edge: Edge, signal: CommitSignal) -> Self {
        let directory = PgDirectory::cached(pool.clone(), edge.settings.directory_cache_size);
        edge.changes.register(directory.cache());
        let store = PersistedEventStore::new_event_store(EventStore::new(pool.clone()));
        Self {
            edge,
            pool,
            store: Arc::new(store),
            signal,
            directory: Arc::new(directory),
        }
    }

    /// What the commands on the clinician tools' streams append with.
    pub fn writer(&self) -> Writer {
        Writer {
            pool: self.pool.clone(),
            directory: self.directory.clone(),
            signal: self.signal.clone(),
        }
    }

    /// Starts the process's one listener for account changes, which turns the caches on (the
    /// query side's sessions too, when it shares this state's edge) until `stop`.
    pub async fn listen_for_account_changes(&self, stop: CancellationToken) -> ChangeListener {
        ChangeListener::start(&self.pool, self.edge.changes.clone(), stop).await
    }

    /// After an account change committed: no process answers from memory what it ended once
    /// this returns ([`accounts::AccountCaches::propagate`]).
    pub async fn account_changed(&self, change: AccountChange) {
        self.edge.changes.propagate(&self.pool, &change).await;
    }
}

impl FromRef<CommandState> for Edge {
    fn from_ref(state: &CommandState) -> Edge {
        state.edge.clone()
    }
}
