//! Assembling and running the gateway.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use audit::access::{AccessLogger, DEFAULT_CAPACITY};
use axum::routing::{any, get};
use axum::Router;
use command_service::{CommandState, CommitSignal};
use http_edge::Edge;
use projections::{ProjectorRuntime, ProjectorSettings};
use query_service::{QuerySettings, QueryState};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::timeout::TimeoutLayer;

use crate::ops;
use crate::proxy::{forward, Upstreams};
use crate::security::with_security_headers;
use crate::settings::GatewaySettings;

/// Where the API is served from.
pub enum Backend {
    /// In this process (the default, single-machine mode).
    Local(CommandState, QueryState),
    /// Forwarded to separately running services (split mode).
    Split(Upstreams),
}

/// Everything the gateway serves: the APIs, the operations endpoints and the SPA.
pub fn router(backend: Backend, pool: PgPool, web_dir: &Path, body_limit: usize) -> Router {
    crate::metrics::prometheus();
    let ops = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/api/openapi.json", get(ops::openapi_json))
        .route("/metrics", get(crate::metrics::metrics))
        .with_state(pool);
    let spa = ServeDir::new(web_dir).not_found_service(ServeFile::new(web_dir.join("index.html")));
    let api = match backend {
        Backend::Local(commands, queries) => command_service::routes(commands)
            .merge(query_service::routes(queries))
            .route("/api/{*rest}", any(http_edge::routes::not_found)),
        Backend::Split(upstreams) => Router::new()
            .route("/api/{*rest}", any(forward))
            .with_state(upstreams),
    };
    let app = api
        .merge(ops)
        // The browser tests live beside the SPA; they are not part of it.
        .route("/e2e/{*rest}", any(http_edge::routes::not_found))
        .fallback_service(spa);
    with_security_headers(http_edge::common_layers(app, body_limit))
}

/// A bound gateway, ready to run.
pub struct Application {
    listener: TcpListener,
    router: Router,
    grace: Duration,
    /// The in-process projector (single-machine mode) and its stop signal.
    projector: Option<(JoinHandle<()>, CancellationToken)>,
    /// The access log's writer: it flushes and ends once the router is dropped.
    access_writer: Option<JoinHandle<()>>,
    /// Woken after every commit; the in-process projector waits on it.
    pub commits: Arc<Notify>,
    pub pool: PgPool,
}

impl Application {
    /// Connects, applies migrations and binds the listener.
    pub async fn build(settings: GatewaySettings) -> anyhow::Result<Self> {
        let pool = http_edge::connect_pool(&settings.database_url, settings.pool_max).await?;
        migrations::MIGRATOR.run(&pool).await?;
        let commits = Arc::new(Notify::new());
        let mut projector = None;
        let mut access_writer = None;
        let backend = match &settings.upstreams {
            Some((commands, queries)) => Backend::Split(Upstreams::new(
                commands,
                queries,
                settings.edge.trusted_proxies.clone(),
            )?),
            None => {
                // One edge for both sides, so the per-IP limit counts every request once.
                let edge = Edge::new(pool.clone(), settings.edge.clone());
                let runtime = ProjectorRuntime::new(pool.clone(), ProjectorSettings::from_env()?)
                    .with_wakeup(commits.clone());
                let (logger, writer) = AccessLogger::spawn(pool.clone(), DEFAULT_CAPACITY);
                access_writer = Some(writer);
                let queries = QueryState::from_settings(
                    &QuerySettings::from_env()?,
                    edge.clone(),
                    Some(runtime.progress()),
                )?
                .with_access_log(logger);
                let stop = CancellationToken::new();
                projector = Some((runtime.spawn(stop.clone()), stop));
                let commands = CommandState::new(
                    pool.clone(),
                    edge,
                    CommitSignal::in_process(commits.clone()),
                );
                Backend::Local(commands, queries)
            }
        };
        let router = router(
            backend,
            pool.clone(),
            &settings.web_dir,
            settings.edge.body_limit_bytes,
        );
        let listener = TcpListener::bind(settings.addr).await?;
        Ok(Self {
            listener,
            router,
            grace: settings.shutdown_grace,
            projector,
            access_writer,
            commits,
            pool,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish (bounded by the
    /// grace period).
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = self.router.layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(60),
        ));
        let grace = self.grace;
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let serve = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stopping_tx.send(());
        });
        let served = tokio::select! {
            result = serve => result,
            () = async move {
                let _ = stopping_rx.await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!("grace period over, dropping remaining connections");
                Ok(())
            }
        };
        // Serving has ended and the router (every logger with it) is dropped: the writer
        // flushes what is buffered and ends.
        if let Some(writer) = self.access_writer {
            if tokio::time::timeout(Duration::from_secs(10), writer)
                .await
                .is_err()
            {
                tracing::warn!("the access log did not flush within 10 s");
            }
        }
        if let Some((task, stop)) = self.projector {
            // The projector stops between batches: a batch commits whole or not at all.
            stop.cancel();
            let _ = task.await;
        }
        served
    }
}
