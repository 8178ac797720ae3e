//! Where each projection has got to, as published to the readers waiting on a consistency token.

use std::collections::BTreeMap;

use events::LogPosition;
use sqlx::PgExecutor;

use crate::error::LogError;
use crate::stored::parse_xid;

/// The checkpoint of each projection. Positions only move forward: [`Checkpoints::advance`]
/// ignores an older position, so notifications from several sources can be merged in any order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoints(BTreeMap<String, LogPosition>);

impl Checkpoints {
    /// The checkpoint of `projection`, if known.
    pub fn get(&self, projection: &str) -> Option<LogPosition> {
        self.0.get(projection).copied()
    }

    /// Records `position` for `projection` unless an equal or later one is known; returns
    /// whether anything changed.
    pub fn advance(&mut self, projection: &str, position: LogPosition) -> bool {
        match self.0.get_mut(projection) {
            Some(known) if *known >= position => false,
            Some(known) => {
                *known = position;
                true
            }
            None => {
                self.0.insert(projection.to_owned(), position);
                true
            }
        }
    }

    /// Merges every position of `other`; returns whether anything changed.
    pub fn merge(&mut self, other: &Checkpoints) -> bool {
        other.0.iter().fold(false, |changed, (name, pos)| {
            self.advance(name, *pos) | changed
        })
    }

    /// Whether every one of `projections` has applied the event at `token` (is at or past it).
    pub fn reached(&self, projections: &[&str], token: LogPosition) -> bool {
        projections
            .iter()
            .all(|name| self.get(name).is_some_and(|pos| pos >= token))
    }
}

/// The `NOTIFY hs_progress` payload: `<projection> <token>`.
pub fn progress_payload(projection: &str, position: LogPosition) -> String {
    format!("{projection} {position}")
}

/// Reads a `NOTIFY hs_progress` payload.
pub fn parse_progress(payload: &str) -> Option<(&str, LogPosition)> {
    let (name, token) = payload.split_once(' ')?;
    Some((name, token.parse().ok()?))
}

/// Every stored checkpoint.
pub async fn load_checkpoints(executor: impl PgExecutor<'_>) -> Result<Checkpoints, LogError> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT projection, transaction_id::text, global_position FROM projection_checkpoints",
    )
    .fetch_all(executor)
    .await?;
    let mut checkpoints = Checkpoints::default();
    for (name, xid, global_position) in rows {
        let position = LogPosition {
            transaction_id: parse_xid(&xid)?,
            global_position,
        };
        checkpoints.advance(&name, position);
    }
    Ok(checkpoints)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(transaction_id: u64, global_position: i64) -> LogPosition {
        LogPosition {
            transaction_id,
            global_position,
        }
    }

    #[test]
    fn checkpoints_only_move_forward_and_all_must_reach_the_token() {
        let mut c = Checkpoints::default();
        assert!(
            !c.reached(&["mailbox"], pos(1, 1)),
            "unknown is not reached"
        );
        assert!(c.advance("mailbox", pos(10, 5)));
        assert!(
            !c.advance("mailbox", pos(9, 50)),
            "older positions are ignored"
        );
        assert!(c.reached(&["mailbox"], pos(10, 5)));
        assert!(!c.reached(&["mailbox"], pos(10, 6)));
        assert!(!c.reached(&["mailbox", "messages"], pos(1, 1)));
    }

    #[test]
    fn progress_payloads_round_trip() {
        let payload = progress_payload("mailbox", pos(0x2a, 7));
        assert_eq!(payload, "mailbox v1.2a.7");
        assert_eq!(parse_progress(&payload), Some(("mailbox", pos(0x2a, 7))));
        assert_eq!(parse_progress("mailbox"), None);
        assert_eq!(parse_progress("mailbox v9.1.1"), None);
    }
}
