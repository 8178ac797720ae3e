//! Counters of this process's projector work, for health checks and tests.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use read_side::Projection;

/// What this process's projector has done, per projection (for health checks and tests).
#[derive(Debug, Default)]
pub struct RuntimeStats {
    applied: [AtomicU64; Projection::ALL.len()],
    leading: [AtomicBool; Projection::ALL.len()],
}

fn slot(projection: Projection) -> usize {
    Projection::ALL
        .iter()
        .position(|p| *p == projection)
        .unwrap_or(0)
}

impl RuntimeStats {
    /// Events this process has applied to `projection`.
    pub fn events_applied(&self, projection: Projection) -> u64 {
        self.applied[slot(projection)].load(Ordering::Relaxed)
    }

    /// Whether this process is the active (leading) projector of `projection`.
    pub fn is_leader(&self, projection: Projection) -> bool {
        self.leading[slot(projection)].load(Ordering::Relaxed)
    }

    pub(crate) fn add_applied(&self, projection: Projection, n: usize) {
        self.applied[slot(projection)].fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn set_leader(&self, projection: Projection, leading: bool) {
        self.leading[slot(projection)].store(leading, Ordering::Relaxed);
    }
}
