//! The projections by name, and the tables each one keeps.

use std::fmt;
use std::str::FromStr;

use crate::error::LogError;

/// A read model kept by the projector, with its own checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Projection {
    /// The original system's `messages` table.
    Messages,
    /// `mailbox`, `conversations`, `unread_counters`, `notifications`, the triage's and the
    /// archive's tables (inbox, sent, thread, search, badge, live notifications, triage).
    Mailbox,
    /// `audit_log`: one hash-chained entry per event, whatever its type.
    AuditLog,
    /// `templates`, `scheduled_messages` and `blocks`: what users keep for themselves about
    /// whom and what they write.
    Composer,
}

impl Projection {
    /// Every projection, in a stable order.
    pub const ALL: [Projection; 4] = [
        Projection::Messages,
        Projection::Mailbox,
        Projection::AuditLog,
        Projection::Composer,
    ];

    /// The name of its checkpoint row (and of its DDL in `create_read_model`).
    pub fn name(self) -> &'static str {
        match self {
            Projection::Messages => "messages",
            Projection::Mailbox => "mailbox",
            Projection::AuditLog => "audit_log",
            Projection::Composer => "composer",
        }
    }

    /// The tables it writes, in the order a swap moves them.
    pub fn tables(self) -> &'static [&'static str] {
        match self {
            Projection::Messages => &["messages"],
            Projection::Mailbox => &[
                "mailbox",
                "conversations",
                "unread_counters",
                "notifications",
                "triage_waits",
                "triage_replies",
                "archived_conversations",
            ],
            Projection::AuditLog => &["audit_log"],
            Projection::Composer => &["templates", "scheduled_messages", "blocks"],
        }
    }
}

impl fmt::Display for Projection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Projection {
    type Err = LogError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Projection::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| LogError::UnknownProjection(s.to_owned()))
    }
}
