//! The benchmark's own database: created fresh on the given server, migrated, and dropped at
//! the end. The harness never connects to any other database except to create and drop its own.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use crate::error::{BenchError, BenchResult};

/// A fresh database that belongs to one run.
#[derive(Debug)]
pub struct BenchDatabase {
    pub name: String,
    /// Its URL (for the gateway, the projector and pgbench).
    pub url: String,
    server_url: String,
    pub pool: PgPool,
}

impl BenchDatabase {
    /// Creates `hs_bench_<time>_<pid>` on the server of `server_url` (which must be on a
    /// loopback address). The schema is applied by [`migrate`], with the binaries under test.
    pub async fn create(server_url: &str) -> BenchResult<Self> {
        let options = PgConnectOptions::from_str(server_url)?;
        let host = options.get_host();
        if !is_local_host(host) {
            return Err(BenchError::Options(format!(
                "the database server must be on this machine (loopback or socket), not `{host}`"
            )));
        }
        let name = format!(
            "hs_bench_{}_{}",
            chrono::Utc::now().format("%Y%m%d%H%M%S"),
            std::process::id()
        );
        let mut admin = PgConnection::connect(server_url).await?;
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await?;
        admin.close().await.ok();
        let url = with_database(server_url, &name)?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect(&url)
            .await?;
        Ok(Self {
            name,
            url,
            server_url: server_url.to_owned(),
            pool,
        })
    }

    /// Drops the database (closing every session on it first).
    pub async fn drop_database(self) -> BenchResult<()> {
        self.pool.close().await;
        let mut admin = PgConnection::connect(&self.server_url).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin)
        .await?;
        admin.close().await.ok();
        Ok(())
    }
}

/// Applies the schema with `hs-admin migrate` from the folder of the binaries under test, so
/// the database has exactly the migrations the gateway and projector expect.
pub async fn migrate(hs_admin: &Path, database_url: &str) -> BenchResult<()> {
    if !hs_admin.is_file() {
        return Err(BenchError::Gateway(format!(
            "no hs-admin binary at {} (cargo build --release -p gateway --bins)",
            hs_admin.display()
        )));
    }
    let output = tokio::process::Command::new(hs_admin)
        .arg("migrate")
        .env("DATABASE_URL", database_url)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await?;
    if !output.status.success() {
        return Err(BenchError::Gateway(format!(
            "hs-admin migrate exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

/// Vacuums and analyses the benchmark database, asks for a checkpoint, and switches autovacuum
/// off for its tables: neither side of the comparison pays for the bulk writes before it, and
/// the statistics (hence the plans) stay the same from the service's query steps to pgbench's.
pub async fn settle(pool: &sqlx::PgPool) -> BenchResult<()> {
    sqlx::raw_sql("VACUUM ANALYZE").execute(pool).await?;
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
            .fetch_all(pool)
            .await?;
    for table in tables {
        sqlx::raw_sql(&format!(
            "ALTER TABLE public.\"{table}\" SET (autovacuum_enabled = false)"
        ))
        .execute(pool)
        .await?;
    }
    checkpoint(pool).await;
    Ok(())
}

/// Asks for a checkpoint (needs superuser or pg_checkpoint; without them the run goes on).
pub async fn checkpoint(pool: &sqlx::PgPool) {
    let _ = sqlx::raw_sql("CHECKPOINT").execute(pool).await;
}

/// Whether `host` names this machine: a loopback address, `localhost`, or a socket folder.
pub fn is_local_host(host: &str) -> bool {
    if host.starts_with('/') || host == "localhost" {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// `url` with its database name replaced by `database`.
pub fn with_database(url: &str, database: &str) -> BenchResult<String> {
    let bad = || BenchError::Options(format!("`{}` is not a postgres:// URL", redact(url)));
    let scheme_end = url.find("://").ok_or_else(bad)? + 3;
    let rest = &url[scheme_end..];
    let query_at = rest.find('?').unwrap_or(rest.len());
    let authority_end = rest[..query_at].find('/').unwrap_or(query_at);
    Ok(format!(
        "{}{}/{database}{}",
        &url[..scheme_end],
        &rest[..authority_end],
        &rest[query_at..]
    ))
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..s + 3], &userinfo[..colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_and_parameters_kept() -> BenchResult<()> {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "b")?,
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            with_database("postgres://u:p@localhost/x?sslmode=disable", "b")?,
            "postgres://u:p@localhost/b?sslmode=disable"
        );
        assert_eq!(
            with_database("postgresql://127.0.0.1:5", "b")?,
            "postgresql://127.0.0.1:5/b"
        );
        assert!(with_database("nonsense", "b").is_err());
        Ok(())
    }

    #[test]
    fn only_this_machine_counts_as_local() {
        for host in ["127.0.0.1", "localhost", "::1", "[::1]", "/run/postgresql"] {
            assert!(is_local_host(host), "{host}");
        }
        for host in ["10.0.0.1", "db.example.org", "192.168.1.2"] {
            assert!(!is_local_host(host), "{host}");
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://u:secret@127.0.0.1/x"),
            "postgres://u:***@127.0.0.1/x"
        );
    }
}
