//! In-process token buckets, per user and per client IP.
//!
//! Buckets live in this process: with several gateway instances each enforces its own share
//! (documented in README). Idle buckets are dropped so memory stays bounded by active clients.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::settings::RateSettings;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// A set of token buckets keyed by `K`.
#[derive(Debug)]
pub struct Buckets<K> {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

/// Above this many buckets, full (idle) ones are swept out on the next take.
const SWEEP_ABOVE: usize = 10_000;

impl<K: Eq + Hash + Clone> Buckets<K> {
    /// Buckets refilling `per_second` up to `burst` tokens.
    pub fn new(per_second: f64, burst: u32) -> Self {
        Self {
            per_second,
            burst: f64::from(burst),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`, or tells how long until one is available.
    pub fn take(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() > SWEEP_ABOVE {
            let (per_second, burst) = (self.per_second, self.burst);
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * per_second
                    < burst
            });
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }
}

/// The two limits of `API.md`.
#[derive(Debug)]
pub struct RateLimiter {
    pub per_user: Buckets<String>,
    pub per_ip: Buckets<IpAddr>,
}

impl RateLimiter {
    /// Limiter with the configured rates.
    pub fn new(settings: RateSettings) -> Self {
        Self {
            per_user: Buckets::new(settings.user_per_second, settings.user_burst),
            per_ip: Buckets::new(settings.ip_per_second, settings.ip_burst),
        }
    }
}

/// Whole seconds for `Retry-After`, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let buckets = Buckets::new(2.0, 3);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(buckets.take(&"u", start).is_ok());
        }
        let wait = buckets.take(&"u", start).expect_err("burst exhausted");
        assert_eq!(retry_after_secs(wait), 1);
        assert!(
            buckets.take(&"other", start).is_ok(),
            "keys are independent"
        );
        assert!(buckets
            .take(&"u", start + Duration::from_millis(500))
            .is_ok());
        assert!(buckets
            .take(&"u", start + Duration::from_millis(500))
            .is_err());
    }
}
