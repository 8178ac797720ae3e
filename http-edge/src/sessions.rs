//! Server-side sessions: a random cookie token (stored as its SHA-256) and a CSRF token each.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use events::Role;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "hs_session";

/// A live session and its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub username: String,
    pub role: Role,
    pub display_name: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Statements on the `sessions` table.
#[derive(Debug, Clone)]
pub struct SessionStore {
    pool: PgPool,
    ttl: Duration,
}

/// 256 random bits, URL-safe.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

impl SessionStore {
    /// Sessions in `pool`, each living `ttl` from login.
    pub fn new(pool: PgPool, ttl: Duration) -> Self {
        Self { pool, ttl }
    }

    /// The pool the sessions live in.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Opens a session for `username`; returns the cookie token and the CSRF token.
    pub async fn create(&self, username: &str) -> Result<(String, String), sqlx::Error> {
        let token = random_token();
        let csrf = random_token();
        let ttl = chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::hours(12));
        sqlx::query(
            "INSERT INTO sessions (token_hash, username, csrf_token, expires_at)
             VALUES ($1, $2, $3, now() + $4)",
        )
        .bind(token_hash(&token))
        .bind(username)
        .bind(&csrf)
        .bind(ttl)
        .execute(&self.pool)
        .await?;
        Ok((token, csrf))
    }

    /// The live (not expired, not revoked) session of a cookie token.
    pub async fn find(&self, token: &str) -> Result<Option<Session>, sqlx::Error> {
        let row: Option<(String, String, String, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT u.username, u.role, u.display_name, s.csrf_token, s.expires_at
             FROM sessions s JOIN users u ON u.username = s.username
             WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()",
        )
        .bind(token_hash(token))
        .fetch_optional(&self.pool)
        .await?;
        Ok(
            row.and_then(|(username, role, display_name, csrf_token, expires_at)| {
                Some(Session {
                    username,
                    role: role.parse().ok()?,
                    display_name,
                    csrf_token,
                    expires_at,
                })
            }),
        )
    }

    /// Revokes the session of a cookie token (a no-op when it is already gone).
    pub async fn revoke(&self, token: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE sessions SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash(token))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes sessions that expired or were revoked more than a day ago; returns how many.
    pub async fn purge_stale(&self) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(
            "DELETE FROM sessions
             WHERE expires_at < now() - interval '1 day' OR revoked_at < now() - interval '1 day'",
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
