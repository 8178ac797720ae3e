//! Telling an unavailable database from a bug, and recycling connections a fault has poisoned.
//!
//! Some failures say nothing about the request and everything about the database: it is down,
//! restarting, refusing writes (a read-only switch or a standby), out of connections. Those answer
//! 503 `unavailable` so that clients retry, never 500. Some of them also poison the connection
//! that saw them: a session opened while the database was read-only stays read-only after the
//! switch back (`default_transaction_read_only` is read at connect time), and would fail every
//! write for its 30-minute lifetime. So a poisoning error marks the moment it was seen, and the
//! pool's hooks drop every connection opened before that moment when it is next acquired or
//! released: within one round of requests the pool holds only fresh connections.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// SQLSTATE classes and codes that mean "the database cannot serve this now".
fn unavailable_state(code: &str) -> bool {
    // 08: connection exception; 53: insufficient resources (disk full, out of memory, too many
    // connections); 57P0x: admin/crash shutdown, cannot connect now; 25006: read-only
    // transaction (a read-only switch or a standby); 57014: statement cancelled (timeouts).
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "57P04" | "25006" | "57014"
        )
}

/// SQLSTATE codes after which the connection itself may keep failing.
fn poisoning_state(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "25006")
}

/// Whether `err` means the database is unavailable (answer 503), not that the request or the
/// code is wrong.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| unavailable_state(&code)),
        _ => false,
    }
}

/// Records `err` if it poisons connections: every connection opened before now will be closed
/// instead of reused. Returns whether it did.
pub fn note_error(err: &sqlx::Error) -> bool {
    let poisons = match err {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| poisoning_state(&code)),
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => true,
        _ => false,
    };
    if poisons {
        // +1 so that a connection opened in the same millisecond counts as older.
        POISONED_AT_MS.fetch_max(elapsed_ms() + 1, Ordering::Relaxed);
        metrics::counter!("db_connection_faults_total").increment(1);
        tracing::warn!(error = %err, "database fault: recycling older connections");
    }
    poisons
}

/// The first `sqlx::Error` in `err`'s chain (cqrs-es and others box it).
pub fn find_sqlx_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a sqlx::Error> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<sqlx::Error>() {
            return Some(found);
        }
        current = err.source();
    }
    None
}

static POISONED_AT_MS: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn elapsed_ms() -> u64 {
    u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Whether a connection of this age was opened before the last poisoning fault.
pub fn is_stale(age: Duration) -> bool {
    let poisoned_at = POISONED_AT_MS.load(Ordering::Relaxed);
    if poisoned_at == 0 {
        return false;
    }
    let age_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
    let opened_at = elapsed_ms().saturating_sub(age_ms);
    opened_at < poisoned_at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_unavailable_and_bugs_are_not() {
        assert!(unavailable_state("25006"));
        assert!(unavailable_state("57P01"));
        assert!(unavailable_state("08006"));
        assert!(unavailable_state("53300"));
        assert!(!unavailable_state("23505"));
        assert!(!unavailable_state("42601"));
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
    }

    #[test]
    fn a_fault_makes_older_connections_stale_and_spares_newer_ones() {
        let _ = epoch();
        std::thread::sleep(Duration::from_millis(5));
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(note_error(&io));
        let opened_long_ago = epoch().elapsed() + Duration::from_secs(1);
        assert!(is_stale(opened_long_ago));
        std::thread::sleep(Duration::from_millis(5));
        assert!(!is_stale(Duration::ZERO));
    }
}
