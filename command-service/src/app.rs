//! Building and running the command service as its own process.

use std::net::SocketAddr;
use std::time::Duration;

use accounts::ChangeListener;
use http_edge::{parse_setting, DatabaseUrl, Edge, EdgeSettings, SettingsError};
use tokio::net::TcpListener;

use crate::signal::CommitSignal;
use crate::state::CommandState;

/// Settings of the standalone command service (environment variables, documented in README).
#[derive(Debug, Clone)]
pub struct CommandSettings {
    pub database_url: DatabaseUrl,
    /// `COMMAND_ADDR` (default `127.0.0.1:8081`); port 0 picks a free port.
    pub addr: SocketAddr,
    /// `DB_POOL_MAX` (default 16).
    pub pool_max: u32,
    /// `NOTIFY_DEBOUNCE_MS` (default 10): at most one `NOTIFY hs_events` per interval.
    pub notify_debounce: Duration,
    pub edge: EdgeSettings,
}

impl CommandSettings {
    /// Reads the settings from the environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        let env = |name: &str| std::env::var(name).ok();
        Ok(Self {
            database_url: DatabaseUrl::from_env()?,
            addr: parse_setting(
                &env,
                "COMMAND_ADDR",
                SocketAddr::from(([127, 0, 0, 1], 8081)),
            )?,
            pool_max: parse_setting(&env, "DB_POOL_MAX", 16)?,
            notify_debounce: Duration::from_millis(parse_setting(&env, "NOTIFY_DEBOUNCE_MS", 10)?),
            edge: EdgeSettings::from_env()?,
        })
    }
}

/// A bound, ready-to-run command service.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    /// Purges ended sessions hourly and listens for account changes until the service stops.
    purging: tokio_util::sync::CancellationToken,
    changes: ChangeListener,
}

impl Application {
    /// Connects, applies migrations, binds the listener.
    pub async fn build(settings: CommandSettings) -> anyhow::Result<Self> {
        // The keys first: a missing or malformed HS_KEK_FILE stops the start before any change.
        vault::process()?;
        let pool = http_edge::connect_pool(&settings.database_url, settings.pool_max).await?;
        migrations::MIGRATOR.run(&pool).await?;
        vault::check_at_start(&pool).await?;
        let signal = CommitSignal::relay_to_postgres(pool.clone(), settings.notify_debounce);
        let edge = Edge::new(pool.clone(), settings.edge);
        let purging = tokio_util::sync::CancellationToken::new();
        edge.sessions
            .spawn_purger(std::time::Duration::from_secs(3600), purging.clone());
        let state = CommandState::new(pool, edge, signal);
        let changes = state.listen_for_account_changes(purging.clone()).await;
        let listener = TcpListener::bind(settings.addr).await?;
        Ok(Self {
            listener,
            router: crate::app(state),
            purging,
            changes,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
        self.purging.cancel();
        self.changes.stopped().await;
        Ok(())
    }
}
