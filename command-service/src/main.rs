//! `command-service`: the command API as its own process (split mode).

use command_service::{Application, CommandSettings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    http_edge::telemetry::init("info");
    let settings = CommandSettings::from_env()?;
    tracing::info!(addr = %settings.addr, database = ?settings.database_url, "starting command service");
    let app = Application::build(settings).await?;
    tracing::info!(port = app.port(), "command service listening");
    app.run_until_stopped(http_edge::shutdown_signal()).await?;
    Ok(())
}
