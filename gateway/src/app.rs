//! Assembling and running the gateway.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use accounts::ChangeListener;
use audit::access::{AccessLogger, DEFAULT_CAPACITY};
use axum::response::{IntoResponse, Response};
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

use crate::ops;
use crate::proxy::{forward, Upstreams};
use crate::security::with_security_headers;
use crate::serve::{serve, ConnectionLimits};
use crate::settings::GatewaySettings;

/// How often ended sessions are purged.
const SESSION_PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Where the API is served from.
pub enum Backend {
    /// In this process (the default, single-machine mode).
    Local(CommandState, QueryState),
    /// Forwarded to separately running services (split mode).
    Split(Upstreams),
}

/// The longest a request may take before it answers 503 `unavailable` (`REQUEST_TIMEOUT_SECS`).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Everything the gateway serves on its public port: the APIs, health, readiness, the OpenAPI
/// document and the SPA. Metrics are served apart ([`metrics_router`]).
pub fn router(backend: Backend, pool: PgPool, web_dir: &Path, body_limit: usize) -> Router {
    router_with_timeout(backend, pool, web_dir, body_limit, REQUEST_TIMEOUT)
}

/// [`router`], with requests answering 503 after `request_timeout`.
pub fn router_with_timeout(
    backend: Backend,
    pool: PgPool,
    web_dir: &Path,
    body_limit: usize,
    request_timeout: Duration,
) -> Router {
    crate::metrics::prometheus();
    let queries = match &backend {
        Backend::Local(_, queries) => Some(queries.clone()),
        Backend::Split(_) => None,
    };
    let ops = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/api/openapi.json", get(ops::openapi_json))
        .with_state(ops::Ops { pool, queries });
    let spa = Router::new()
        .fallback(crate::spa::serve)
        .with_state(crate::spa::WebRoot(Arc::new(web_dir.to_path_buf())));
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
        .merge(spa)
        .layer(axum::middleware::from_fn_with_state(
            request_timeout,
            time_limit,
        ));
    with_security_headers(http_edge::common_layers(app, body_limit))
}

/// A request that runs past `limit` answers 503 in the error envelope, inside the layers that
/// add request ids and security headers.
async fn time_limit(
    axum::extract::State(limit): axum::extract::State<Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!("request timed out");
            http_edge::ApiError::Unavailable.into_response()
        }
    }
}

/// `GET /metrics` (Prometheus text), for the separate metrics listener (`METRICS_ADDR`).
pub fn metrics_router(pool: PgPool) -> Router {
    crate::metrics::prometheus();
    Router::new()
        .route("/metrics", get(crate::metrics::metrics))
        .with_state(pool)
}

/// A bound gateway, ready to run.
pub struct Application {
    listener: TcpListener,
    router: Router,
    /// The metrics listener (`METRICS_ADDR`), when enabled.
    metrics: Option<(TcpListener, Router)>,
    limits: ConnectionLimits,
    grace: Duration,
    /// Purges ended sessions (single-process mode; the services do it in split mode).
    purger: Option<(JoinHandle<()>, CancellationToken)>,
    /// Keeps the caches of sessions and the directory correct (single-process mode).
    account_changes: Option<(ChangeListener, CancellationToken)>,
    /// The in-process projector (single-machine mode) and its stop signal.
    projector: Option<(JoinHandle<()>, CancellationToken)>,
    /// The in-process scheduler of scheduled messages (single-machine mode).
    scheduler: Option<(JoinHandle<()>, CancellationToken)>,
    /// The access log's writer: it flushes and ends once the router is dropped.
    access_writer: Option<JoinHandle<()>>,
    /// The live-notification fan-out (single-process mode): its streams end when serving stops.
    notifications: Option<query_service::notifications::hub::NotificationHub>,
    /// Ends the event streams proxied in split mode when serving stops.
    proxied_streams: Option<CancellationToken>,
    /// Woken after every commit; the in-process projector waits on it.
    pub commits: Arc<Notify>,
    pub pool: PgPool,
}

impl Application {
    /// Connects, applies migrations and binds the listener.
    pub async fn build(settings: GatewaySettings) -> anyhow::Result<Self> {
        // The keys first: a missing or malformed HS_KEK_FILE stops the start before any change.
        vault::process()?;
        let pool = http_edge::connect_pool(&settings.database_url, settings.pool_max).await?;
        migrations::MIGRATOR.run(&pool).await?;
        vault::check_at_start(&pool).await?;
        let commits = Arc::new(Notify::new());
        let mut projector = None;
        let mut scheduler = None;
        let mut access_writer = None;
        let mut purger = None;
        let mut account_changes = None;
        let mut notifications = None;
        let mut proxied_streams = None;
        let backend = match &settings.upstreams {
            Some((commands, queries)) => {
                let upstreams =
                    Upstreams::new(commands, queries, settings.edge.trusted_proxies.clone())?;
                proxied_streams = Some(upstreams.stopping());
                Backend::Split(upstreams)
            }
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
                notifications = Some(queries.notifications().clone());
                let stop = CancellationToken::new();
                projector = Some((runtime.spawn(stop.clone()), stop));
                let stop_purging = CancellationToken::new();
                purger = Some((
                    edge.sessions
                        .spawn_purger(SESSION_PURGE_EVERY, stop_purging.clone()),
                    stop_purging,
                ));
                // The local projector at once; through `NOTIFY hs_events` (debounced) the
                // leading projector of another gateway, when this one is a standby.
                let signal = CommitSignal::in_process(commits.clone()).also(
                    CommitSignal::relay_to_postgres(pool.clone(), settings.notify_debounce),
                );
                let commands = CommandState::new(pool.clone(), edge, signal);
                let stop_scheduling = CancellationToken::new();
                scheduler = Some((
                    command_service::scheduler::spawn(
                        commands.writer(),
                        command_service::scheduler::SchedulerSettings::from_env()?,
                        stop_scheduling.clone(),
                    ),
                    stop_scheduling,
                ));
                // One listener for the process: the edge (and its sessions) is shared with the
                // query side.
                let stop_listening = CancellationToken::new();
                let listener = commands
                    .listen_for_account_changes(stop_listening.clone())
                    .await;
                account_changes = Some((listener, stop_listening));
                Backend::Local(commands, queries)
            }
        };
        let router = router_with_timeout(
            backend,
            pool.clone(),
            &settings.web_dir,
            settings.edge.body_limit_bytes,
            settings.request_timeout,
        );
        let listener = TcpListener::bind(settings.addr).await?;
        let metrics = match settings.metrics_addr {
            None => None,
            Some(addr) => match TcpListener::bind(addr).await {
                Ok(listener) => Some((listener, metrics_router(pool.clone()))),
                Err(err) => {
                    // Metrics are not worth refusing to serve patients for; say so loudly.
                    tracing::error!(%addr, error = %err, "cannot bind METRICS_ADDR: no metrics");
                    None
                }
            },
        };
        Ok(Self {
            listener,
            router,
            metrics,
            limits: settings.limits,
            purger,
            account_changes,
            grace: settings.shutdown_grace,
            projector,
            scheduler,
            access_writer,
            notifications,
            proxied_streams,
            commits,
            pool,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The metrics listener's bound port, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        let (listener, _) = self.metrics.as_ref()?;
        listener.local_addr().ok().map(|a| a.port())
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish (bounded by the
    /// grace period).
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let stop = CancellationToken::new();
        let metrics = self.metrics.map(|(listener, router)| {
            let stop = stop.clone();
            tokio::spawn(async move {
                serve(
                    listener,
                    router,
                    ConnectionLimits::default(),
                    stop.cancelled_owned(),
                    Duration::from_secs(1),
                )
                .await;
            })
        });
        // Open notification streams never end by themselves: close them as the stop begins, so
        // that the grace period is not spent waiting for them.
        let notifications = self.notifications.clone();
        let proxied_streams = self.proxied_streams.clone();
        let shutdown = async move {
            shutdown.await;
            if let Some(hub) = notifications {
                hub.shutdown();
            }
            if let Some(streams) = proxied_streams {
                streams.cancel();
            }
        };
        serve(
            self.listener,
            self.router,
            self.limits,
            shutdown,
            self.grace,
        )
        .await;
        stop.cancel();
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        if let Some((task, stop)) = self.purger {
            stop.cancel();
            let _ = task.await;
        }
        if let Some((listener, stop)) = self.account_changes {
            stop.cancel();
            listener.stopped().await;
        }
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
        if let Some((task, stop)) = self.scheduler {
            stop.cancel();
            let _ = task.await;
        }
        if let Some((task, stop)) = self.projector {
            // The projector stops between batches: a batch commits whole or not at all.
            stop.cancel();
            let _ = task.await;
        }
        Ok(())
    }
}
