//! The accept loop: HTTP/1.1 connections with a header-read deadline, and graceful shutdown.
//!
//! `axum::serve` sets no timer, so a client that opens a socket and never finishes its request
//! head (slowloris) holds a connection, and a file descriptor, forever: 200 such sockets were
//! enough to make new clients time out. Here every connection must deliver each request head
//! within `header_read_timeout`, which also closes keep-alive connections that stay idle that
//! long; at most `max_connections` are served at once (beyond it, new sockets wait in the
//! kernel's backlog rather than being accepted). On shutdown the loop stops accepting and lets
//! in-flight requests finish within the grace period.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Connection limits of the accept loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// `HEADER_READ_TIMEOUT_SECS` (default 10): each request head, and each keep-alive pause
    /// before the next one, must end within this.
    pub header_read_timeout: Duration,
    /// `MAX_CONNECTIONS` (default 4096): connections served at once.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then waits up to `grace` for
/// in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()> + Send,
    grace: Duration,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        // The peer address around the whole router (`Router::layer` would wrap every route
        // anew for each connection: about 100 KiB per connection, measured).
        let service = tower::Layer::layer(
            &axum::Extension(ConnectInfo::<SocketAddr>(peer)),
            router.clone(),
        );
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, %peer, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!("grace period over, dropping remaining connections");
        }
    }
}
