//! The command service's one state.

use std::sync::Arc;

use accounts::PgDirectory;
use axum::extract::FromRef;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::CqrsFramework;
use events::Message;
use http_edge::Edge;
use sqlx::PgPool;

use crate::signal::CommitSignal;
use crate::store::EventStore;

/// cqrs-es over the events table, appending through [`EventStore`].
pub type MessageStore = PersistedEventStore<EventStore, Message>;

/// Shared by every command handler.
#[derive(Clone)]
pub struct CommandState {
    pub edge: Edge,
    pub pool: PgPool,
    /// Runs commands: load the aggregate, decide, append (optimistic concurrency).
    pub cqrs: Arc<CqrsFramework<Message, MessageStore>>,
    /// Loads aggregates without running a command (a reply's parent, idempotent repeats).
    pub store: Arc<MessageStore>,
    pub signal: CommitSignal,
    /// The domain's services (users, roles, approvals), for commands run without cqrs-es's
    /// load step.
    pub directory: events::MessagingServices,
}

impl CommandState {
    /// State over `pool`, waking the projector through `signal` after each commit.
    pub fn new(pool: PgPool, edge: Edge, signal: CommitSignal) -> Self {
        let directory: events::MessagingServices = Arc::new(PgDirectory::new(pool.clone()));
        let event_store = || PersistedEventStore::new_event_store(EventStore::new(pool.clone()));
        let cqrs = CqrsFramework::new(event_store(), vec![], directory.clone());
        let store = event_store();
        Self {
            edge,
            pool,
            cqrs: Arc::new(cqrs),
            store: Arc::new(store),
            signal,
            directory,
        }
    }
}

impl FromRef<CommandState> for Edge {
    fn from_ref(state: &CommandState) -> Edge {
        state.edge.clone()
    }
}
