//! The gateway: the one public entry point of Healing Space messaging.
//!
//! In the default single-machine mode it serves the command API, the query API and the SPA from
//! one process and runs the projector beside them, so `deploy/run.sh` has one thing to start.
//! Operations endpoints (`/healthz`, `/readyz`, `/api/openapi.json`) and security headers are
//! added here, once, for everything it serves; `/metrics` has a listener of its own
//! (`METRICS_ADDR`, loopback by default), so the public port never exposes it.

mod app;
mod metrics;
mod openapi;
mod ops;
pub mod privacy;
mod proxy;
mod security;
mod serve;
mod settings;
pub mod spa;

pub use app::{metrics_router, router, router_with_timeout, Application, Backend, REQUEST_TIMEOUT};
pub use metrics::{projection_progress, prometheus, ProjectionProgress};
pub use ops::{
    migrations_applied, readiness, LagBound, Readiness, DEFAULT_MAX_LAG_EVENTS,
    DEFAULT_MAX_LAG_SECONDS,
};
pub use proxy::{BadUpstream, Upstreams};
pub use serve::{serve, ConnectionLimits};
pub use settings::GatewaySettings;
