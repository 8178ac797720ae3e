//! The projections: which tables each keeps and how it applies an event.

use std::fmt;
use std::str::FromStr;

use sqlx::PgConnection;

use crate::error::ProjectorError;
use crate::event::StoredEvent;
use crate::{audit_log, mailbox, messages};

/// A read model kept by the projector, with its own checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Projection {
    /// The original system's `messages` table.
    Messages,
    /// `mailbox`, `conversations` and `unread_counters` (inbox, sent, thread, search, badge).
    Mailbox,
    /// `audit_log`: one hash-chained entry per event, whatever its type.
    AuditLog,
}

impl Projection {
    /// Every projection, in a stable order.
    pub const ALL: [Projection; 3] = [
        Projection::Messages,
        Projection::Mailbox,
        Projection::AuditLog,
    ];

    /// The name of its checkpoint row (and of its DDL in `create_read_model`).
    pub fn name(self) -> &'static str {
        match self {
            Projection::Messages => "messages",
            Projection::Mailbox => "mailbox",
            Projection::AuditLog => "audit_log",
        }
    }

    /// The tables it writes, in the order a swap moves them.
    pub fn tables(self) -> &'static [&'static str] {
        match self {
            Projection::Messages => &["messages"],
            Projection::Mailbox => &["mailbox", "conversations", "unread_counters"],
            Projection::AuditLog => &["audit_log"],
        }
    }

    /// Applies one event to the tables found on the connection's `search_path` (the live ones,
    /// or a scratch copy during rebuild and verify).
    pub(crate) async fn apply(
        self,
        conn: &mut PgConnection,
        event: &StoredEvent,
    ) -> Result<(), ProjectorError> {
        if self == Projection::AuditLog {
            // The audit trail records every event as stored, decoded or not.
            return audit_log::apply(conn, event).await;
        }
        let Some(event) = event.message_event()? else {
            return Ok(());
        };
        match self {
            Projection::Messages => messages::apply(conn, &event).await?,
            Projection::Mailbox => mailbox::apply(conn, &event).await?,
            Projection::AuditLog => {}
        }
        Ok(())
    }
}

impl fmt::Display for Projection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Projection {
    type Err = ProjectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Projection::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| ProjectorError::UnknownProjection(s.to_owned()))
    }
}
