//! `command-service`: the command API as its own process (split mode).

use command_service::{Application, CommandSettings};

/// The command API of Healing Space messaging as its own process (split mode), on COMMAND_ADDR.
/// Every setting comes from the environment (see README, "Configuration").
#[derive(clap::Parser)]
#[command(name = "command-service", version)]
struct Cli {}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    <Cli as clap::Parser>::parse();
    http_edge::telemetry::init("info");
    let settings = CommandSettings::from_env()?;
    tracing::info!(addr = %settings.addr, database = ?settings.database_url, "starting command service");
    let app = Application::build(settings).await?;
    tracing::info!(port = app.port(), "command service listening");
    app.run_until_stopped(http_edge::shutdown_signal()).await?;
    Ok(())
}
