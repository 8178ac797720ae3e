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
    /// Sessions, cookies, proxies, body limit, rate limits.
    pub edge: EdgeSettings,
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
}
