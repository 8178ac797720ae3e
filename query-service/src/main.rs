//! `query-service`: the query API alone (the gateway normally mounts it in-process).

use query_service::{Application, QuerySettings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    http_edge::telemetry::init("info,sqlx=warn");
    let settings = QuerySettings::from_env()?;
    let app = Application::build(settings).await?;
    tracing::info!(port = app.port(), "query service listening");
    app.run_until_stopped().await?;
    Ok(())
}
