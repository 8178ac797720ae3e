//! The standalone query service: binds its listener (port 0 allowed), serves until a signal,
//! then lets the access log write what it still buffers.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use accounts::ChangeListener;
use audit::access::{AccessLogger, DEFAULT_CAPACITY};
use axum::Router;
use http_edge::Edge;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::QueryError;
use crate::settings::QuerySettings;
use crate::state::QueryState;

/// The longest the service waits, after serving ends, for the access log's last write.
const ACCESS_LOG_FLUSH: Duration = Duration::from_secs(10);

/// A bound, ready-to-run query service.
pub struct Application {
    listener: TcpListener,
    router: Router,
    port: u16,
    /// The access log's writer: it ends, after a last write, once the router is dropped.
    access_writer: JoinHandle<()>,
    /// Keeps the session cache in step with logouts, expiries and account changes made by any
    /// process (`docs/operations.md`), until serving ends.
    changes: ChangeListener,
    stop_listening: CancellationToken,
    /// Ends the open notification streams when serving stops.
    notifications: crate::notifications::hub::NotificationHub,
}

impl Application {
    /// Connects (sqlx for sessions and the access log, the read pool and the progress
    /// listener), applies the migrations, starts the access log's writer, and binds
    /// `QUERY_HOST:QUERY_PORT`.
    pub async fn build(settings: QuerySettings) -> Result<Self, QueryError> {
        let pool = http_edge::connect_pool(&settings.database_url, 8).await?;
        migrations::MIGRATOR.run(&pool).await?;
        let (access_log, access_writer) = AccessLogger::spawn(pool.clone(), DEFAULT_CAPACITY);
        let edge = Edge::new(pool.clone(), settings.edge.clone());
        let stop_listening = CancellationToken::new();
        let changes =
            ChangeListener::start(&pool, edge.changes.clone(), stop_listening.clone()).await;
        let state = QueryState::from_settings(&settings, edge, None)?.with_access_log(access_log);
        let notifications = state.notifications().clone();
        let router = http_edge::common_layers(
            http_edge::api_fallbacks(crate::routes(state)),
            settings.edge.body_limit_bytes,
        );
        let listener = TcpListener::bind((settings.host, settings.port)).await?;
        let port = listener.local_addr()?.port();
        Ok(Self {
            listener,
            router,
            port,
            access_writer,
            changes,
            stop_listening,
            notifications,
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT or SIGTERM, letting requests in flight finish, then waits (at most
    /// `ACCESS_LOG_FLUSH`) for the access log to write the entries it still buffers.
    pub async fn run_until_stopped(self) -> Result<(), QueryError> {
        self.run_until(http_edge::shutdown_signal()).await
    }

    /// [`Application::run_until_stopped`] with the stop signal given (tests, embedding).
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), QueryError> {
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        // Open notification streams never end by themselves: close them as the stop begins, so
        // that the graceful shutdown does not wait for them.
        let notifications = self.notifications.clone();
        let shutdown = async move {
            shutdown.await;
            notifications.shutdown();
        };
        let served = axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown)
            .await;
        self.stop_listening.cancel();
        self.changes.stopped().await;
        // Serving has ended and dropped the router, so the writer's channel closes and its
        // loop ends after one last write.
        match tokio::time::timeout(ACCESS_LOG_FLUSH, self.access_writer).await {
            Ok(Ok(())) => tracing::info!("access log flushed"),
            Ok(Err(err)) => tracing::error!(error = %err, "access log writer failed"),
            Err(_) => tracing::warn!("access log not flushed in time; buffered entries lost"),
        }
        served?;
        Ok(())
    }
}
