//! Failed logins slow down exponentially, per account and per client IP.
//!
//! The per-IP token bucket allows 100 requests a second, which for password guessing is far too
//! many, and each guess costs an argon2 verification. After a few free failures every further
//! failure doubles the wait before the next attempt is even verified (answered 429
//! `rate_limited` with `Retry-After`, without touching the password). A success clears the
//! account's count; the IP's count only decays, so logging into one's own account between
//! guesses does not reset it. The account key is the name as typed, whether or not such a user
//! exists, so the throttle itself says nothing about existence.
//!
//! | key | free failures | then waits | at most |
//! |---|---|---|---|
//! | account | 5 | 1 s, 2 s, 4 s, … | 5 min |
//! | client IP | 20 | 1 s, 2 s, 4 s, … | 15 min |
//!
//! A count is forgotten once its key has been quiet for twice its longest wait. Both maps are
//! bounded (100,000 keys each; the quietest keys go first), so a flood of invented names cannot
//! grow memory. Kept in each process (several gateways each enforce it on their share).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How one kind of key is throttled.
#[derive(Debug, Clone, Copy)]
struct Rule {
    free: u32,
    max_wait: Duration,
}

const ACCOUNT: Rule = Rule {
    free: 5,
    max_wait: Duration::from_secs(5 * 60),
};
const IP: Rule = Rule {
    free: 20,
    max_wait: Duration::from_secs(15 * 60),
};
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

impl Rule {
    /// How long after the last failure the next attempt must wait.
    fn wait(&self, count: u32) -> Duration {
        if count < self.free {
            return Duration::ZERO;
        }
        let doublings = (count - self.free).min(20);
        Duration::from_secs(1u64 << doublings).min(self.max_wait)
    }

    fn forgotten(&self, failures: &Failures, now: Instant) -> bool {
        now.duration_since(failures.last) > self.max_wait * 2
    }
}

#[derive(Debug)]
struct Counter<K> {
    rule: Rule,
    failures: Mutex<HashMap<K, Failures>>,
}

impl<K: Eq + Hash + Clone> Counter<K> {
    fn new(rule: Rule) -> Self {
        Self {
            rule,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn remaining(&self, key: &K, now: Instant) -> Option<Duration> {
        let map = self.failures.lock().ok()?;
        let failures = map.get(key)?;
        let until = failures.last + self.rule.wait(failures.count);
        (until > now).then(|| until - now)
    }

    fn failed(&self, key: &K, now: Instant) {
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        if map.len() >= MAX_KEYS && !map.contains_key(key) {
            let rule = self.rule;
            map.retain(|_, f| !rule.forgotten(f, now));
            if map.len() >= MAX_KEYS {
                // Still full: drop the quietest half rather than grow.
                let mut lasts: Vec<Instant> = map.values().map(|f| f.last).collect();
                lasts.sort_unstable();
                let cut = lasts[lasts.len() / 2];
                map.retain(|_, f| f.last > cut);
            }
        }
        let rule = self.rule;
        let entry = map.entry(key.clone()).or_insert(Failures {
            count: 0,
            last: now,
        });
        if rule.forgotten(entry, now) {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
    }

    fn clear(&self, key: &K) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(key);
        }
    }
}

/// The failed-login counters of one process.
#[derive(Debug)]
pub struct LoginThrottle {
    accounts: Counter<String>,
    ips: Counter<IpAddr>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            accounts: Counter::new(ACCOUNT),
            ips: Counter::new(IP),
        }
    }
}

impl LoginThrottle {
    /// `Err(wait)` when a login for `username` from `ip` must wait before it is even checked.
    pub fn check(&self, username: &str, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let account = self.accounts.remaining(&account_key(username), now);
        let ip = self.ips.remaining(&ip, now);
        match account.into_iter().chain(ip).max() {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Records a failed login.
    pub fn failed(&self, username: &str, ip: IpAddr, now: Instant) {
        self.accounts.failed(&account_key(username), now);
        self.ips.failed(&ip, now);
        metrics::counter!("logins_failed_total").increment(1);
    }

    /// Records a successful login: the account's failures are forgiven (not the IP's).
    pub fn succeeded(&self, username: &str) {
        self.accounts.clear(&account_key(username));
    }
}

/// Bounded, so a megabyte of "username" does not become a megabyte of key.
fn account_key(username: &str) -> String {
    username.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const AWAY: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn an_account_gets_five_free_failures_then_waits_that_double() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(throttle.check("alice", HOME, t0), Ok(()));
            throttle.failed("alice", HOME, t0);
        }
        assert_eq!(
            throttle.check("alice", AWAY, t0),
            Err(Duration::from_secs(1))
        );
        throttle.failed("alice", HOME, t0);
        assert_eq!(
            throttle.check("alice", AWAY, t0),
            Err(Duration::from_secs(2))
        );
        assert_eq!(
            throttle.check("alice", AWAY, t0 + Duration::from_secs(2)),
            Ok(())
        );
        assert_eq!(throttle.check("bob", AWAY, t0), Ok(()));
    }

    #[test]
    fn waits_are_capped_and_forgotten_after_a_quiet_spell() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        for _ in 0..40 {
            throttle.failed("alice", HOME, t0);
        }
        let Err(wait) = throttle.check("alice", AWAY, t0) else {
            panic!("expected a wait");
        };
        assert!(wait <= IP.max_wait, "{wait:?}");
        let later = t0 + IP.max_wait * 2 + Duration::from_secs(1);
        assert_eq!(throttle.check("alice", HOME, later), Ok(()));
    }

    #[test]
    fn success_forgives_the_account_but_not_the_ip() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        for i in 0..25 {
            throttle.failed(&format!("guess{i}"), HOME, t0);
        }
        throttle.failed("alice", HOME, t0);
        throttle.succeeded("alice");
        assert_eq!(throttle.check("alice", AWAY, t0), Ok(()));
        assert!(throttle.check("alice", HOME, t0).is_err());
    }

    #[test]
    fn invented_names_cannot_grow_the_map_past_its_bound() {
        let counter = Counter::<String>::new(ACCOUNT);
        let t0 = Instant::now();
        for i in 0..(MAX_KEYS + 10) {
            counter.failed(&format!("u{i}"), t0 + Duration::from_micros(i as u64));
        }
        let len = counter
            .failures
            .lock()
            .map(|m| m.len())
            .unwrap_or(usize::MAX);
        assert!(len <= MAX_KEYS, "{len}");
    }
}
