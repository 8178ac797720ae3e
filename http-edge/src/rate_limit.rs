//! Token buckets, per user and per client IP: in this process, or shared by every instance
//! through Redis when `REDIS_URL` is set.
//!
//! In process, idle buckets are dropped so memory stays bounded by active clients. Shared, each
//! check is one round trip: a Lua script (GCRA, the generic cell rate algorithm, on the Redis
//! server's clock) keeps one key per bucket that expires once the bucket is full again. When
//! Redis does not answer within [`REDIS_TIMEOUT`], the check falls back to this process's own
//! bucket (each instance then enforces the limit alone), counted in
//! `rate_limit_fallbacks_total` and logged: a Redis outage never refuses or stalls requests.

use std::collections::HashMap;
use std::fmt;
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

/// The longest a shared check waits for Redis before the process's own bucket decides.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// GCRA: `KEYS[1]` the bucket, `ARGV[1]` the interval between tokens and `ARGV[2]` the burst
/// (both in microseconds of the Redis clock). Returns 0 when a token was taken, else the
/// microseconds until one is available. The key holds the theoretical arrival time and expires
/// when the bucket is full again.
const GCRA: &str = r"
local now_parts = redis.call('TIME')
local now = now_parts[1] * 1000000 + now_parts[2]
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next_tat = tat + interval
local allowed_at = next_tat - burst
if allowed_at > now then
  return allowed_at - now
end
redis.call('SET', KEYS[1], next_tat, 'PX', math.ceil((next_tat - now) / 1000) + 1)
return 0
";

/// After Redis failed a check, how long the process decides alone before asking it again (so an
/// outage costs each request nothing, not a timeout).
pub const REDIS_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Buckets kept in Redis for every instance.
struct Shared {
    client: redis::Client,
    /// Until when Redis is not asked (after a failure).
    resting_until: Mutex<Option<Instant>>,
    connection: tokio::sync::OnceCell<redis::aio::ConnectionManager>,
    script: redis::Script,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    async fn connection(&self) -> redis::RedisResult<redis::aio::ConnectionManager> {
        self.connection
            .get_or_try_init(|| async {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(REDIS_TIMEOUT)
                    .set_response_timeout(REDIS_TIMEOUT)
                    .set_number_of_retries(1);
                redis::aio::ConnectionManager::new_with_config(self.client.clone(), config).await
            })
            .await
            .cloned()
    }

    /// Takes one token of the bucket `key` (`per_second`, `burst`): `Ok(None)` taken,
    /// `Ok(Some(wait))` empty.
    async fn take(
        &self,
        key: &str,
        per_second: f64,
        burst: u32,
    ) -> redis::RedisResult<Option<Duration>> {
        let interval = (1_000_000.0 / per_second).ceil() as u64;
        let mut connection = self.connection().await?;
        let wait: u64 = self
            .script
            .key(key)
            .arg(interval)
            .arg(interval.saturating_mul(u64::from(burst)))
            .invoke_async(&mut connection)
            .await?;
        Ok((wait > 0).then(|| Duration::from_micros(wait)))
    }
}

/// The two limits of `API.md`.
#[derive(Debug)]
pub struct RateLimiter {
    pub per_user: Buckets<String>,
    pub per_ip: Buckets<IpAddr>,
    settings: RateSettings,
    /// Set with `REDIS_URL`: the buckets every instance shares (the local ones above are then
    /// the fallback).
    shared: Option<Shared>,
}

/// `REDIS_URL` is not a Redis URL.
#[derive(Debug, thiserror::Error)]
#[error("REDIS_URL: {0}")]
pub struct BadRedisUrl(String);

impl RateLimiter {
    /// Limiter with the configured rates, shared through Redis when `settings.redis_url` is
    /// set (the connection is made on first use).
    pub fn new(settings: RateSettings) -> Result<Self, BadRedisUrl> {
        let shared = match settings.redis_url.as_deref() {
            None => None,
            Some(url) => Some(Shared {
                client: redis::Client::open(url).map_err(|e| BadRedisUrl(e.to_string()))?,
                resting_until: Mutex::new(None),
                connection: tokio::sync::OnceCell::new(),
                script: redis::Script::new(GCRA),
            }),
        };
        Ok(Self {
            per_user: Buckets::new(settings.user_per_second, settings.user_burst),
            per_ip: Buckets::new(settings.ip_per_second, settings.ip_burst),
            settings,
            shared,
        })
    }

    /// Limiter of this process alone, whatever `settings.redis_url` says.
    pub fn local(settings: RateSettings) -> Self {
        Self {
            per_user: Buckets::new(settings.user_per_second, settings.user_burst),
            per_ip: Buckets::new(settings.ip_per_second, settings.ip_burst),
            settings,
            shared: None,
        }
    }

    /// Whether the buckets are shared through Redis.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Takes a token of the client IP's bucket.
    pub async fn take_ip(&self, ip: IpAddr) -> Result<(), Duration> {
        let (rate, burst) = (self.settings.ip_per_second, self.settings.ip_burst);
        let key = format!("{}:rate:ip:{ip}", self.settings.redis_prefix);
        self.take(&key, rate, burst, || self.per_ip.take(&ip, Instant::now()))
            .await
    }

    /// Takes a token of the user's bucket of message-creating commands.
    pub async fn take_user(&self, username: &str) -> Result<(), Duration> {
        let (rate, burst) = (self.settings.user_per_second, self.settings.user_burst);
        let key = format!("{}:rate:user:{username}", self.settings.redis_prefix);
        self.take(&key, rate, burst, || {
            self.per_user.take(&username.to_owned(), Instant::now())
        })
        .await
    }

    async fn take(
        &self,
        key: &str,
        per_second: f64,
        burst: u32,
        local: impl FnOnce() -> Result<(), Duration>,
    ) -> Result<(), Duration> {
        let Some(shared) = &self.shared else {
            return local();
        };
        let resting = |until: &mut Option<Instant>| until.is_some_and(|t| Instant::now() < t);
        if resting(
            &mut shared
                .resting_until
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        ) {
            metrics::counter!("rate_limit_fallbacks_total").increment(1);
            return local();
        }
        match tokio::time::timeout(REDIS_TIMEOUT, shared.take(key, per_second, burst)).await {
            Ok(Ok(None)) => Ok(()),
            Ok(Ok(Some(wait))) => Err(wait),
            outcome => {
                metrics::counter!("rate_limit_fallbacks_total").increment(1);
                *shared
                    .resting_until
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + REDIS_RETRY_AFTER);
                match outcome {
                    Ok(Err(err)) => tracing::warn!(error = %err,
                        "Redis refused a rate-limit check; this process decides alone for 5 s"),
                    _ => tracing::warn!(
                        "Redis did not answer a rate-limit check in time; this process decides alone for 5 s"),
                }
                local()
            }
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
