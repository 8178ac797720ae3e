//! Settings of the edge, read from the environment (documented in README).

use std::net::IpAddr;
use std::time::Duration;

/// A setting has a value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("setting {name}: {problem}")]
pub struct SettingsError {
    pub name: &'static str,
    pub problem: String,
}

/// Token buckets of `API.md`'s "Configuration".
#[derive(Debug, Clone, PartialEq)]
pub struct RateSettings {
    /// Message-creating commands per user: refill per second and burst.
    pub user_per_second: f64,
    pub user_burst: u32,
    /// Every request per client IP: refill per second and burst.
    pub ip_per_second: f64,
    pub ip_burst: u32,
    /// `REDIS_URL` (default none): share the buckets of every instance through this Redis.
    pub redis_url: Option<String>,
    /// `RATE_LIMIT_REDIS_PREFIX` (default `hs`): the prefix of the buckets' keys in Redis (one
    /// per deployment sharing a Redis).
    pub redis_prefix: String,
}

impl Default for RateSettings {
    fn default() -> Self {
        Self {
            user_per_second: 10.0,
            user_burst: 30,
            ip_per_second: 100.0,
            ip_burst: 400,
            redis_url: None,
            redis_prefix: "hs".to_owned(),
        }
    }
}

/// Sessions, cookies, proxies, body size, rate limits and the request path's caches.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeSettings {
    /// `SESSION_TTL_MINUTES` (default 720): a session's lifetime from login.
    pub session_ttl: Duration,
    /// `SESSION_IDLE_MINUTES` (default 30): a session ends after this long without a request.
    pub session_idle: Duration,
    /// `COOKIE_SECURE` (default false): mark the session cookie `Secure` (set it behind HTTPS).
    pub cookie_secure: bool,
    /// `TRUSTED_PROXIES` (comma-separated IPs, default none): peers whose `X-Forwarded-For` is
    /// believed for the client IP.
    pub trusted_proxies: Vec<IpAddr>,
    /// `BODY_LIMIT_BYTES` (default 65536): larger bodies answer 413.
    pub body_limit_bytes: usize,
    /// `RATE_LIMIT_*`.
    pub rate: RateSettings,
    /// `SESSION_CACHE_SIZE` (default 10000; 0 turns it off): sessions kept in memory while the
    /// process listens for account changes.
    pub session_cache_size: usize,
    /// `DIRECTORY_CACHE_SIZE` (default 10000; 0 turns it off): users, and as many clinician
    /// approvals, kept in memory for the messaging policy while the process listens for account
    /// changes.
    pub directory_cache_size: usize,
}

impl Default for EdgeSettings {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(720 * 60),
            session_idle: Duration::from_secs(30 * 60),
            cookie_secure: false,
            trusted_proxies: Vec::new(),
            body_limit_bytes: 64 * 1024,
            rate: RateSettings::default(),
            session_cache_size: 10_000,
            directory_cache_size: 10_000,
        }
    }
}

impl EdgeSettings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let defaults = Self::default();
        let minutes = at_least_one(&lookup, "SESSION_TTL_MINUTES", 720)?;
        let idle_minutes = at_least_one(&lookup, "SESSION_IDLE_MINUTES", 30)?;
        let trusted_proxies = match lookup("TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse().map_err(|_| SettingsError {
                        name: "TRUSTED_PROXIES",
                        problem: format!("`{s}` is not an IP address"),
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Self {
            session_ttl: Duration::from_secs(minutes * 60),
            session_idle: Duration::from_secs(idle_minutes * 60),
            cookie_secure: parse(&lookup, "COOKIE_SECURE", false)?,
            trusted_proxies,
            body_limit_bytes: parse(&lookup, "BODY_LIMIT_BYTES", defaults.body_limit_bytes)?,
            rate: RateSettings {
                user_per_second: positive(&lookup, "RATE_LIMIT_USER_PER_SECOND", 10.0)?,
                user_burst: parse(&lookup, "RATE_LIMIT_USER_BURST", 30)?.max(1),
                ip_per_second: positive(&lookup, "RATE_LIMIT_IP_PER_SECOND", 100.0)?,
                ip_burst: parse(&lookup, "RATE_LIMIT_IP_BURST", 400)?.max(1),
                redis_url: match lookup("REDIS_URL").filter(|url| !url.trim().is_empty()) {
                    None => None,
                    Some(url) => match redis::Client::open(url.as_str()) {
                        Ok(_) => Some(url),
                        Err(err) => {
                            return Err(SettingsError {
                                name: "REDIS_URL",
                                problem: err.to_string(),
                            })
                        }
                    },
                },
                redis_prefix: lookup("RATE_LIMIT_REDIS_PREFIX")
                    .filter(|p| !p.trim().is_empty())
                    .unwrap_or_else(|| "hs".to_owned()),
            },
            session_cache_size: parse(&lookup, "SESSION_CACHE_SIZE", defaults.session_cache_size)?,
            directory_cache_size: parse(
                &lookup,
                "DIRECTORY_CACHE_SIZE",
                defaults.directory_cache_size,
            )?,
        })
    }
}

/// Parses `name` when set, else gives `default`.
pub fn parse<T: std::str::FromStr>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, SettingsError> {
    match lookup(name) {
        None => Ok(default),
        Some(raw) => raw.trim().parse().map_err(|_| SettingsError {
            name,
            problem: format!("`{raw}` is not a valid value"),
        }),
    }
}

fn at_least_one(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
) -> Result<u64, SettingsError> {
    match parse(lookup, name, default)? {
        0 => Err(SettingsError {
            name,
            problem: "must be at least 1".into(),
        }),
        value => Ok(value),
    }
}

fn positive(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: f64,
) -> Result<f64, SettingsError> {
    let value: f64 = parse(lookup, name, default)?;
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(SettingsError {
            name,
            problem: "must be a positive number".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn defaults_are_those_of_the_api_contract() -> Result<(), SettingsError> {
        let settings = EdgeSettings::from_lookup(|_| None)?;
        assert_eq!(settings, EdgeSettings::default());
        assert_eq!(settings.rate.user_burst, 30);
        assert_eq!(settings.rate.ip_per_second, 100.0);
        Ok(())
    }

    #[test]
    fn values_are_read_and_bad_ones_are_named() {
        let env: HashMap<&str, &str> = [
            ("RATE_LIMIT_USER_PER_SECOND", "1000"),
            ("TRUSTED_PROXIES", "127.0.0.1, ::1"),
            ("COOKIE_SECURE", "true"),
            ("SESSION_CACHE_SIZE", "0"),
        ]
        .into();
        let settings = EdgeSettings::from_lookup(|k| env.get(k).map(|v| v.to_string()));
        let settings = settings.expect("valid settings");
        assert_eq!(settings.rate.user_per_second, 1000.0);
        assert_eq!(settings.trusted_proxies.len(), 2);
        assert!(settings.cookie_secure);
        assert_eq!(settings.session_cache_size, 0);
        assert_eq!(settings.directory_cache_size, 10_000);

        let bad =
            EdgeSettings::from_lookup(|k| (k == "RATE_LIMIT_IP_PER_SECOND").then(|| "-1".into()));
        assert!(matches!(
            bad,
            Err(SettingsError {
                name: "RATE_LIMIT_IP_PER_SECOND",
                ..
            })
        ));
    }
}

/// A database URL whose `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(pub String);

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_password(&self.0))
    }
}

impl DatabaseUrl {
    /// `DATABASE_URL`, required.
    pub fn from_env() -> Result<Self, SettingsError> {
        std::env::var("DATABASE_URL")
            .map(DatabaseUrl)
            .map_err(|_| SettingsError {
                name: "DATABASE_URL",
                problem: "is not set".into(),
            })
    }

    /// The URL itself, for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod redaction_tests {
    use super::*;

    #[test]
    fn database_urls_never_print_their_password() {
        let url = DatabaseUrl("postgres://app:s3cret@db:5432/hs".into());
        assert_eq!(format!("{url:?}"), "postgres://app:***@db:5432/hs");
        assert_eq!(redact_password("postgres://db/hs"), "postgres://db/hs");
    }
}
