//! `gateway`: runs the whole messaging system in one process.

use gateway::{Application, GatewaySettings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    http_edge::telemetry::init("info,sqlx=warn");
    let settings = GatewaySettings::from_env()?;
    tracing::info!(addr = %settings.addr, database = ?settings.database_url, "starting gateway");
    let app = Application::build(settings).await?;
    tracing::info!(port = app.port(), "gateway listening");
    app.run_until_stopped(http_edge::shutdown_signal()).await?;
    tracing::info!("gateway stopped");
    Ok(())
}
