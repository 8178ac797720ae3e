//! Settings of the query service, from the environment (documented in `docs/projector.md` and
//! README).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use audit::access::OnFailure;
use http_edge::{parse_setting as parse, DatabaseUrl, EdgeSettings, SettingsError};

/// What the query service needs to run.
#[derive(Clone)]
pub struct QuerySettings {
    /// `DATABASE_URL`: read tables, checkpoints, sessions.
    pub database_url: DatabaseUrl,
    /// `QUERY_HOST` (default 127.0.0.1) and `QUERY_PORT` (default 8082; 0 picks a free port):
    /// where the standalone binary listens. The gateway mounts [`crate::routes`] instead.
    pub host: IpAddr,
    pub port: u16,
    /// `QUERY_POOL_SIZE` (default 16): read connections.
    pub read_pool_size: usize,
    /// `CONSISTENCY_WAIT_MS` (default 5000): the longest a query waits for its token.
    pub consistency_wait: Duration,
    /// `CURSOR_SECRET` (optional): the key that signs page cursors. Without it a random key is
    /// made at start (cursors then do not survive a restart nor cross instances).
    pub cursor_secret: Option<String>,
    /// `ACCESS_LOG_ON_FAILURE` (`refuse`, the default, or `serve`): whether a read whose
    /// access record cannot be buffered (the database refuses writes and the buffer is full)
    /// answers 503 or is served unrecorded (counted and logged at error level).
    pub access_log_on_failure: OnFailure,
    /// `STREAM_MAX` (default 10,000): notification streams this process holds at most; one
    /// more is refused with 503.
    pub stream_max: usize,
    /// `QUERY_DATABASE_URL` (optional, comma-separated): hot standbys the reads go to. Empty:
    /// every read goes to `DATABASE_URL`, as do sessions, writes and the fallback.
    pub replica_urls: Vec<DatabaseUrl>,
    /// How replicas are chosen and watched (`REPLICA_*`).
    pub replicas: ReplicaSettings,
    /// Sessions, cookies, proxies, body limit, rate limits.
    pub edge: EdgeSettings,
}

/// How the query side uses its replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaSettings {
    /// `REPLICA_MAX_LAG_MS` (default 5000): a replica further behind than this in replay time
    /// (or unreachable) gets no reads without a token.
    pub max_lag: Duration,
    /// `REPLICA_WAIT_MS` (default 1000): how long a read with a token waits for a replica to
    /// replay it once the primary has it, before it reads the primary instead.
    pub wait: Duration,
    /// `REPLICA_POLL_MS` (default 1000): how often a replica's state is read while no request
    /// waits on it (while one waits: every [`ReplicaSettings::fast_poll`]).
    pub poll: Duration,
    /// `REPLICA_FAST_POLL_MS` (default 10): the poll while a request waits on the replica.
    pub fast_poll: Duration,
}

impl Default for ReplicaSettings {
    fn default() -> Self {
        Self {
            max_lag: Duration::from_millis(5000),
            wait: Duration::from_millis(1000),
            poll: Duration::from_millis(1000),
            fast_poll: Duration::from_millis(10),
        }
    }
}

impl ReplicaSettings {
    fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let positive = |name: &'static str, default: u64| -> Result<Duration, SettingsError> {
            match parse(lookup, name, default)? {
                0 => Err(SettingsError {
                    name,
                    problem: "must be at least 1".into(),
                }),
                ms => Ok(Duration::from_millis(ms)),
            }
        };
        Ok(Self {
            max_lag: positive("REPLICA_MAX_LAG_MS", 5000)?,
            wait: Duration::from_millis(parse(lookup, "REPLICA_WAIT_MS", 1000)?),
            poll: positive("REPLICA_POLL_MS", 1000)?,
            fast_poll: positive("REPLICA_FAST_POLL_MS", 10)?,
        })
    }
}

/// `QUERY_DATABASE_URL`: comma-separated URLs, each one a `postgres://` URL of one server.
fn replica_urls(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Vec<DatabaseUrl>, SettingsError> {
    let Some(raw) = lookup("QUERY_DATABASE_URL") else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(|url| {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(SettingsError {
                    name: "QUERY_DATABASE_URL",
                    problem: format!(
                        "`{:?}` is not a postgres:// URL (separate several with commas)",
                        DatabaseUrl(url.to_owned())
                    ),
                });
            }
            crate::db::pg_config(url).map_err(|e| SettingsError {
                name: "QUERY_DATABASE_URL",
                problem: format!("{:?}: {e}", DatabaseUrl(url.to_owned())),
            })?;
            Ok(DatabaseUrl(url.to_owned()))
        })
        .collect()
}

impl fmt::Debug for QuerySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuerySettings")
            .field("database_url", &self.database_url)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("read_pool_size", &self.read_pool_size)
            .field("consistency_wait", &self.consistency_wait)
            .field(
                "cursor_secret",
                &self.cursor_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("access_log_on_failure", &self.access_log_on_failure)
            .field("stream_max", &self.stream_max)
            .field("replica_urls", &self.replica_urls)
            .field("replicas", &self.replicas)
            .field("edge", &self.edge)
            .finish()
    }
}

impl QuerySettings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let database_url = lookup("DATABASE_URL")
            .map(DatabaseUrl)
            .ok_or(SettingsError {
                name: "DATABASE_URL",
                problem: "is not set".into(),
            })?;
        let wait_ms: u64 = parse(&lookup, "CONSISTENCY_WAIT_MS", 5000)?;
        let read_pool_size: usize = parse(&lookup, "QUERY_POOL_SIZE", 16)?;
        Ok(Self {
            database_url,
            host: parse(&lookup, "QUERY_HOST", IpAddr::V4(Ipv4Addr::LOCALHOST))?,
            port: parse(&lookup, "QUERY_PORT", 8082)?,
            read_pool_size: read_pool_size.max(1),
            consistency_wait: Duration::from_millis(wait_ms),
            cursor_secret: lookup("CURSOR_SECRET").filter(|s| !s.is_empty()),
            access_log_on_failure: parse(&lookup, "ACCESS_LOG_ON_FAILURE", OnFailure::Refuse)?,
            stream_max: parse(&lookup, "STREAM_MAX", crate::state::DEFAULT_STREAM_MAX)?,
            replica_urls: replica_urls(&lookup)?,
            replicas: ReplicaSettings::from_lookup(&lookup)?,
            edge: EdgeSettings::from_lookup(&lookup)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_contract_and_secrets_stay_out_of_debug() -> Result<(), SettingsError> {
        let settings = QuerySettings::from_lookup(|k| match k {
            "DATABASE_URL" => Some("postgres://u:secret@h/db".into()),
            "CURSOR_SECRET" => Some("hush".into()),
            _ => None,
        })?;
        assert_eq!(settings.consistency_wait, Duration::from_millis(5000));
        assert_eq!(settings.access_log_on_failure, OnFailure::Refuse);
        let shown = format!("{settings:?}");
        assert!(
            !shown.contains(":secret@") && !shown.contains("hush"),
            "{shown}"
        );
        assert!(QuerySettings::from_lookup(|_| None).is_err());
        let serve = QuerySettings::from_lookup(|k| match k {
            "DATABASE_URL" => Some("postgres://h/db".into()),
            "ACCESS_LOG_ON_FAILURE" => Some("serve".into()),
            _ => None,
        })?;
        assert_eq!(serve.access_log_on_failure, OnFailure::Serve);
        let wrong = QuerySettings::from_lookup(|k| match k {
            "DATABASE_URL" => Some("postgres://h/db".into()),
            "ACCESS_LOG_ON_FAILURE" => Some("drop".into()),
            _ => None,
        });
        assert!(wrong.is_err());
        Ok(())
    }

    #[test]
    fn replicas_are_a_comma_separated_list_and_bad_values_are_startup_errors(
    ) -> Result<(), SettingsError> {
        let none = QuerySettings::from_lookup(|k| match k {
            "DATABASE_URL" => Some("postgres://h/db".into()),
            "QUERY_DATABASE_URL" => Some(" ".into()),
            _ => None,
        })?;
        assert!(none.replica_urls.is_empty());
        assert_eq!(none.replicas, ReplicaSettings::default());
        let two = QuerySettings::from_lookup(|k| match k {
            "DATABASE_URL" => Some("postgres://h/db".into()),
            "QUERY_DATABASE_URL" => {
                Some("postgres://u:pw@r1:5432/db, postgres://r2:5433/db".into())
            }
            "REPLICA_MAX_LAG_MS" => Some("250".into()),
            _ => None,
        })?;
        assert_eq!(two.replica_urls.len(), 2);
        assert_eq!(two.replicas.max_lag, Duration::from_millis(250));
        assert!(!format!("{two:?}").contains(":pw@"));
        for (name, value) in [
            ("QUERY_DATABASE_URL", "r1:5432/db"),
            ("QUERY_DATABASE_URL", "postgres://r1:notaport/db"),
            ("REPLICA_MAX_LAG_MS", "soon"),
            ("REPLICA_POLL_MS", "0"),
        ] {
            let wrong = QuerySettings::from_lookup(|k| match k {
                "DATABASE_URL" => Some("postgres://h/db".into()),
                k if k == name => Some(value.into()),
                _ => None,
            });
            match wrong {
                Err(error) => {
                    assert_eq!(error.name, name);
                    assert!(!error.problem.contains(":pw@"));
                }
                Ok(_) => panic!("{name}={value} accepted"),
            }
        }
        Ok(())
    }
}
