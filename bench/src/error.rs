//! What can stop a benchmark run.

/// A benchmark run failed. Problems with a single figure (an endpoint that is missing, a binary
/// that is not built) are not errors: the figure is reported as unavailable with its reason.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("invalid option: {0}")]
    Options(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("password hash: {0}")]
    Password(#[from] accounts::PasswordError),
    #[error("gateway: {0}")]
    Gateway(String),
    #[error("{0}")]
    Other(String),
}

/// Shorthand for results of the harness.
pub type BenchResult<T> = Result<T, BenchError>;
