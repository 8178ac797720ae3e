//! The read pool (deadpool-postgres) and the mapping of its errors to the API's.

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use http_edge::ApiError;
use sqlx::postgres::PgConnectOptions;
use tokio_postgres::types::FromSql;
use tokio_postgres::{NoTls, Row};

use crate::error::QueryError;

/// How long a request waits for a free read connection before answering 503.
const WAIT_FOR_CONNECTION: Duration = Duration::from_secs(5);

/// tokio-postgres settings from a `postgres://` URL (or key=value string). Plain TCP: the
/// database is expected on the host or a private network (TLS is not configured here).
pub fn pg_config(database_url: &str) -> Result<tokio_postgres::Config, QueryError> {
    tokio_postgres::Config::from_str(database_url)
        .map_err(|e| QueryError::BadDatabaseUrl(e.to_string()))
}

/// tokio-postgres settings equal to sqlx's (host or socket, port, user, database; sqlx does
/// not expose a password, so this suits trust or peer authentication, as in tests).
pub fn pg_config_from_sqlx(options: &PgConnectOptions) -> tokio_postgres::Config {
    let mut config = tokio_postgres::Config::new();
    match options.get_socket() {
        Some(socket) => config.host_path(socket),
        None => config.host(options.get_host()),
    };
    config.port(options.get_port()).user(options.get_username());
    if let Some(database) = options.get_database() {
        config.dbname(database);
    }
    config
}

/// A pool of `size` read connections; connections are made on first use.
pub fn read_pool(mut config: tokio_postgres::Config, size: usize) -> Result<Pool, QueryError> {
    config.application_name("hs-query");
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Ok(Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(WAIT_FOR_CONNECTION))
        .create_timeout(Some(WAIT_FOR_CONNECTION))
        .build()?)
}

/// A failed statement: logged, answered as an opaque 500; but a statement a hot standby
/// cancelled for a conflict with recovery (SQLSTATE 40001: the query side runs no
/// serializable transactions), or one whose connection had closed, is a 503, worth retrying.
pub(crate) fn db_error(err: tokio_postgres::Error) -> ApiError {
    if err.code() == Some(&tokio_postgres::error::SqlState::T_R_SERIALIZATION_FAILURE) {
        tracing::warn!(error = %err, "read cancelled by a conflict with recovery on a replica");
        return ApiError::Unavailable;
    }
    if err.is_closed() {
        // The server went away under a pooled connection (a restarted replica or primary):
        // the pool drops that connection, and a retry gets another.
        tracing::warn!(error = %err, "read connection closed");
        return ApiError::Unavailable;
    }
    ApiError::internal(err)
}

/// No read connection: 503 when the pool is exhausted or the database unreachable.
pub(crate) fn pool_error(err: PoolError) -> ApiError {
    match err {
        PoolError::Timeout(_) | PoolError::Backend(_) => {
            tracing::warn!(error = %err, "no read connection");
            ApiError::Unavailable
        }
        other => ApiError::internal(other),
    }
}

/// Column `idx` of `row` as `T` (a mismatch is a 500, never a panic).
pub(crate) fn col<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> Result<T, ApiError> {
    row.try_get(idx).map_err(db_error)
}
