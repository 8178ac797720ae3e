//! `query-service`: the query API alone (the gateway normally mounts it in-process).

use query_service::{Application, QuerySettings};

/// The query API of Healing Space messaging as its own process (split mode), on
/// QUERY_HOST:QUERY_PORT. Every setting comes from the environment (see README, "Configuration").
#[derive(clap::Parser)]
#[command(name = "query-service", version)]
struct Cli {}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    <Cli as clap::Parser>::parse();
    http_edge::telemetry::init("info,sqlx=warn");
    let settings = QuerySettings::from_env()?;
    let app = Application::build(settings).await?;
    tracing::info!(port = app.port(), "query service listening");
    app.run_until_stopped().await?;
    Ok(())
}
