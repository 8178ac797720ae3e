//! Errors of building and running the query service (not of requests: those are `ApiError`s).

/// Why the query service could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("DATABASE_URL cannot be used: {0}")]
    BadDatabaseUrl(String),
    #[error("cannot build the read pool: {0}")]
    Pool(#[from] deadpool_postgres::BuildError),
    #[error(transparent)]
    Connect(#[from] http_edge::ConnectError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Settings(#[from] http_edge::SettingsError),
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
}
