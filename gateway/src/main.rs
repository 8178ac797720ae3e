//! `gateway`: runs the whole messaging system in one process.

use gateway::{Application, GatewaySettings};

/// Serves Healing Space messaging in one process: the SPA, the command and query APIs and the
/// projector, on HOST:PORT, with /metrics on METRICS_ADDR. Every setting comes from the
/// environment (see README, "Configuration").
#[derive(clap::Parser)]
#[command(name = "gateway", version)]
struct Cli {}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    <Cli as clap::Parser>::parse();
    http_edge::telemetry::init("info,sqlx=warn");
    let settings = GatewaySettings::from_env()?;
    tracing::info!(addr = %settings.addr, database = ?settings.database_url, "starting gateway");
    let app = Application::build(settings).await?;
    if let Some(port) = app.metrics_port() {
        tracing::info!(port, "metrics listening");
    }
    tracing::info!(port = app.port(), "gateway listening");
    app.run_until_stopped(http_edge::shutdown_signal()).await?;
    tracing::info!("gateway stopped");
    Ok(())
}
