//! A position in the event log, in the order projectors apply events (commit order).

use std::fmt;
use std::str::FromStr;

/// `(transaction_id, global_position)` of an event. Projectors apply events in this order and
/// checkpoint it; a command's consistency token is the position of its last event, and a query
/// has "seen" a command once its projections' checkpoints are at or past it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct LogPosition {
    /// The writing transaction's id (`xid8`).
    pub transaction_id: u64,
    /// The event's `global_position`.
    pub global_position: i64,
}

impl LogPosition {
    /// Before the first event.
    pub const START: LogPosition = LogPosition {
        transaction_id: 0,
        global_position: 0,
    };
}

/// The token is not one this service issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed consistency token")]
pub struct BadToken;

/// The opaque `X-Consistency-Token` form: `v1.<xid>.<position>` in hexadecimal.
impl fmt::Display for LogPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v1.{:x}.{:x}", self.transaction_id, self.global_position)
    }
}

impl FromStr for LogPosition {
    type Err = BadToken;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split('.');
        let (Some("v1"), Some(xid), Some(pos), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(BadToken);
        };
        let transaction_id = u64::from_str_radix(xid, 16).map_err(|_| BadToken)?;
        let global_position = i64::from_str_radix(pos, 16).map_err(|_| BadToken)?;
        if global_position < 0 || xid.len() > 16 || pos.len() > 16 {
            return Err(BadToken);
        }
        Ok(LogPosition {
            transaction_id,
            global_position,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_order_by_transaction_first() {
        let a = LogPosition {
            transaction_id: 900,
            global_position: 7,
        };
        let b = LogPosition {
            transaction_id: 901,
            global_position: 3,
        };
        assert!(a < b);
        assert_eq!(a.to_string().parse::<LogPosition>(), Ok(a));
        for bad in ["", "v1", "v2.1.2", "v1.x.2", "v1.1.2.3", "v1.1.-2"] {
            assert!(bad.parse::<LogPosition>().is_err(), "{bad}");
        }
    }
}
