//! Disabling and enabling accounts.
//!
//! A disabled account keeps its messages and its row; it cannot log in (the login answers 401
//! like a wrong password) and every session it had ends at once (revoked in the same
//! transaction, and refused by the session look-up even before that commits elsewhere).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::users::UserError;

/// Disables `username` and revokes all their sessions; returns when the account was disabled
/// (the first time, if it already was). [`UserError::UnknownUser`] when there is no such user.
pub async fn disable_user(pool: &PgPool, username: &str) -> Result<DateTime<Utc>, UserError> {
    let mut tx = pool.begin().await?;
    let disabled_at: Option<DateTime<Utc>> = sqlx::query_scalar(
        "UPDATE users SET disabled_at = coalesce(disabled_at, now())
         WHERE username = $1 RETURNING disabled_at",
    )
    .bind(username)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(disabled_at) = disabled_at else {
        return Err(UserError::UnknownUser(username.to_owned()));
    };
    sqlx::query(
        "UPDATE sessions SET revoked_at = now() WHERE username = $1 AND revoked_at IS NULL",
    )
    .bind(username)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(disabled_at)
}

/// Lets `username` log in again. [`UserError::UnknownUser`] when there is no such user.
pub async fn enable_user(pool: &PgPool, username: &str) -> Result<(), UserError> {
    let done = sqlx::query("UPDATE users SET disabled_at = NULL WHERE username = $1")
        .bind(username)
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(UserError::UnknownUser(username.to_owned()));
    }
    Ok(())
}
