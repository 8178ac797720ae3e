//! The command service's one state.

use std::sync::Arc;

use accounts::PgDirectory;
use axum::extract::FromRef;
use cqrs_es::persist::PersistedEventStore;
use events::Message;
use http_edge::Edge;
use postgres_es::{PostgresCqrs, PostgresEventRepository};
use sqlx::PgPool;

use crate::signal::CommitSignal;

/// Shared by every command handler.
#[derive(Clone)]
pub struct CommandState {
    pub edge: Edge,
    pub pool: PgPool,
    /// Runs commands: load the aggregate, decide, append (optimistic concurrency).
    pub cqrs: Arc<PostgresCqrs<Message>>,
    /// Loads aggregates without running a command (a reply's parent, idempotent repeats).
    pub store: Arc<PersistedEventStore<PostgresEventRepository, Message>>,
    pub signal: CommitSignal,
}

impl CommandState {
    /// State over `pool`, waking the projector through `signal` after each commit.
    pub fn new(pool: PgPool, edge: Edge, signal: CommitSignal) -> Self {
        let directory: events::MessagingServices = Arc::new(PgDirectory::new(pool.clone()));
        let cqrs = postgres_es::postgres_cqrs(pool.clone(), vec![], directory);
        let store =
            PersistedEventStore::new_event_store(PostgresEventRepository::new(pool.clone()));
        Self {
            edge,
            pool,
            cqrs: Arc::new(cqrs),
            store: Arc::new(store),
            signal,
        }
    }
}

impl FromRef<CommandState> for Edge {
    fn from_ref(state: &CommandState) -> Edge {
        state.edge.clone()
    }
}
