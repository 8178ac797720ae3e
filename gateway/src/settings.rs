//! Gateway settings, from the environment (documented in README).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http_edge::{parse_setting, DatabaseUrl, EdgeSettings, SettingsError};

use crate::serve::ConnectionLimits;

/// Everything the gateway process needs.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub database_url: DatabaseUrl,
    /// `HOST` (default 127.0.0.1) and `PORT` (default 8080); port 0 picks a free port.
    pub addr: SocketAddr,
    /// `DB_POOL_MAX` (default 16).
    pub pool_max: u32,
    /// `WEB_DIR` (default `web`): the SPA's files.
    pub web_dir: PathBuf,
    /// `SHUTDOWN_GRACE_SECS` (default 20): how long in-flight requests may finish on SIGTERM.
    pub shutdown_grace: Duration,
    /// `COMMAND_UPSTREAM` and `QUERY_UPSTREAM` (`http://host:port`, both or neither): split
    /// mode, forwarding `/api/*` to separately running services instead of serving it here.
    pub upstreams: Option<(String, String)>,
    /// `METRICS_ADDR` (default `127.0.0.1:9464`; `off` disables): the listener of `/metrics`,
    /// apart from the public port.
    pub metrics_addr: Option<SocketAddr>,
    /// `HEADER_READ_TIMEOUT_SECS` (default 10) and `MAX_CONNECTIONS` (default 4096).
    pub limits: ConnectionLimits,
    /// `REQUEST_TIMEOUT_SECS` (default 60): a request still running then answers 503.
    pub request_timeout: Duration,
    /// `NOTIFY_DEBOUNCE_MS` (default 10): at most one `NOTIFY hs_events` per interval, which
    /// wakes the leading projector when it runs in another process.
    pub notify_debounce: Duration,
    pub edge: EdgeSettings,
}

impl GatewaySettings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        let env = |name: &str| std::env::var(name).ok();
        let host: std::net::IpAddr = parse_setting(&env, "HOST", [127, 0, 0, 1].into())?;
        let port: u16 = parse_setting(&env, "PORT", 8080)?;
        Ok(Self {
            database_url: DatabaseUrl::from_env()?,
            addr: SocketAddr::new(host, port),
            pool_max: parse_setting(&env, "DB_POOL_MAX", 16)?,
            web_dir: parse_setting(&env, "WEB_DIR", PathBuf::from("web"))?,
            shutdown_grace: Duration::from_secs(parse_setting(&env, "SHUTDOWN_GRACE_SECS", 20)?),
            upstreams: match (env("COMMAND_UPSTREAM"), env("QUERY_UPSTREAM")) {
                (Some(commands), Some(queries)) => Some((commands, queries)),
                (None, None) => None,
                _ => {
                    return Err(SettingsError {
                        name: "COMMAND_UPSTREAM",
                        problem: "set both COMMAND_UPSTREAM and QUERY_UPSTREAM, or neither".into(),
                    })
                }
            },
            metrics_addr: match env("METRICS_ADDR").as_deref().map(str::trim) {
                Some("off") | Some("") => None,
                _ => Some(parse_setting(
                    &env,
                    "METRICS_ADDR",
                    SocketAddr::from(([127, 0, 0, 1], 9464)),
                )?),
            },
            limits: ConnectionLimits {
                header_read_timeout: Duration::from_secs(
                    parse_setting(&env, "HEADER_READ_TIMEOUT_SECS", 10u64)?.max(1),
                ),
                max_connections: parse_setting(&env, "MAX_CONNECTIONS", 4096usize)?.max(1),
            },
            notify_debounce: Duration::from_millis(parse_setting(&env, "NOTIFY_DEBOUNCE_MS", 10)?),
            request_timeout: Duration::from_secs(
                parse_setting(&env, "REQUEST_TIMEOUT_SECS", 60u64)?.max(1),
            ),
            edge: EdgeSettings::from_env()?,
        })
    }
}
