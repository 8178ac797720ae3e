//! Statements on `users` and `patient_approvals`.

use chrono::{DateTime, Utc};
use events::limits::{
    check_password, is_valid_username, optional_line, MAX_DISPLAY_NAME_CHARS, MAX_PASSWORD_CHARS,
};
use events::Role;
use sqlx::PgPool;

use crate::password::{PasswordError, PasswordWorkers};

/// A user as the API shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// What an administrator gives to create a user.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub role: Role,
    pub password: String,
    pub display_name: Option<String>,
}

/// Whether a clinician may message a patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalStatus {
    Approved,
    Revoked,
}

impl ApprovalStatus {
    /// The status as stored and as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Revoked => "revoked",
        }
    }

    /// Parses `approved` / `revoked`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "approved" => Some(ApprovalStatus::Approved),
            "revoked" => Some(ApprovalStatus::Revoked),
            _ => None,
        }
    }
}

/// Why an accounts operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("user `{0}` does not exist")]
    UnknownUser(String),
    #[error("user `{0}` already exists")]
    AlreadyExists(String),
    #[error("`{username}` is a {actual}, not a {expected}")]
    WrongRole {
        username: String,
        expected: Role,
        actual: Role,
    },
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Creates a user; [`UserError::AlreadyExists`] when the name is taken. The password and the
/// display name follow the text rules of `events::limits` (no control characters; a display
/// name without a visible character is the username).
pub async fn create_user(pool: &PgPool, new: NewUser) -> Result<User, UserError> {
    if !is_valid_username(&new.username) {
        return Err(UserError::InvalidInput(
            "username must be 1 to 64 characters of a-z, 0-9, _ . -".into(),
        ));
    }
    check_password(&new.password).map_err(|e| UserError::InvalidInput(format!("password {e}")))?;
    let display_name = optional_line(new.display_name, MAX_DISPLAY_NAME_CHARS)
        .map_err(|e| UserError::InvalidInput(format!("display_name {e}")))?
        .unwrap_or_else(|| new.username.clone());
    let hash = PasswordWorkers::global().hash(new.password).await?;
    let row: Option<(DateTime<Utc>,)> = sqlx::query_as(
        "INSERT INTO users (username, display_name, role, password_hash)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (username) DO NOTHING
         RETURNING created_at",
    )
    .bind(&new.username)
    .bind(&display_name)
    .bind(new.role.as_str())
    .bind(&hash)
    .fetch_optional(pool)
    .await?;
    match row {
        Some((created_at,)) => Ok(User {
            username: new.username,
            display_name,
            role: new.role,
            created_at,
        }),
        None => Err(UserError::AlreadyExists(new.username)),
    }
}

type UserRow = (String, String, String, DateTime<Utc>);

fn user_from_row((username, display_name, role, created_at): UserRow) -> Result<User, UserError> {
    let role = role
        .parse()
        .map_err(|_| UserError::InvalidInput(format!("stored role `{role}` is unknown")))?;
    Ok(User {
        username,
        display_name,
        role,
        created_at,
    })
}

/// The user of that name, if any.
pub async fn find_user(pool: &PgPool, username: &str) -> Result<Option<User>, UserError> {
    // A name outside the username alphabet names nobody (and a NUL would fail the statement).
    if !is_valid_username(username) {
        return Ok(None);
    }
    let row: Option<UserRow> = sqlx::query_as(
        "SELECT username, display_name, role, created_at FROM users WHERE username = $1",
    )
    .bind(username)
    .fetch_optional(pool)
    .await?;
    row.map(user_from_row).transpose()
}

/// A hash of no password (argon2id, default parameters), verified against when the user does
/// not exist, so that a wrong username costs the same time as a wrong password.
const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$ZGVjb3lkZWNveWRlY295$0CLQ4vEI5wxvd9LzaUiuKmzD0yMJ8r8wG7Bqt5IsbQY";

/// The user when `password` is theirs and the account is not disabled; `None` for a wrong
/// username, a wrong password or a disabled account alike (each costs one verification).
/// [`UserError::Password`] with `Busy` when the password workers' queue is full.
pub async fn authenticate(
    pool: &PgPool,
    username: &str,
    password: &str,
) -> Result<Option<User>, UserError> {
    let row: Option<(String, String, String, DateTime<Utc>, String, bool)> =
        if is_valid_username(username) {
            sqlx::query_as(
                "SELECT username, display_name, role, created_at, password_hash,
                        disabled_at IS NOT NULL
                 FROM users WHERE username = $1",
            )
            .bind(username)
            .fetch_optional(pool)
            .await?
        } else {
            None
        };
    let password = password
        .chars()
        .take(MAX_PASSWORD_CHARS)
        .collect::<String>();
    let (user, hash) = match row {
        Some((u, d, r, c, hash, false)) => (Some((u, d, r, c)), hash),
        Some((.., hash, true)) => (None, hash),
        None => (None, DECOY_HASH.to_owned()),
    };
    let matches = PasswordWorkers::global().verify(password, hash).await?;
    match (user, matches) {
        (Some(row), true) => Ok(Some(user_from_row(row)?)),
        _ => Ok(None),
    }
}

/// Sets (inserts or updates) the approval of `patient` for `clinician`, checking both roles.
pub async fn set_approval(
    pool: &PgPool,
    clinician: &str,
    patient: &str,
    status: ApprovalStatus,
) -> Result<(), UserError> {
    expect_role(pool, clinician, Role::Clinician).await?;
    expect_role(pool, patient, Role::Patient).await?;
    sqlx::query(
        "INSERT INTO patient_approvals (clinician, patient, status)
         VALUES ($1, $2, $3)
         ON CONFLICT (clinician, patient)
         DO UPDATE SET status = EXCLUDED.status, updated_at = now()",
    )
    .bind(clinician)
    .bind(patient)
    .bind(status.as_str())
    .execute(pool)
    .await?;
    Ok(())
}

async fn expect_role(pool: &PgPool, username: &str, expected: Role) -> Result<(), UserError> {
    let user = find_user(pool, username)
        .await?
        .ok_or_else(|| UserError::UnknownUser(username.to_owned()))?;
    if user.role != expected {
        return Err(UserError::WrongRole {
            username: username.to_owned(),
            expected,
            actual: user.role,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHash;

    #[test]
    fn the_decoy_hash_costs_what_a_real_one_does_and_matches_nothing() {
        let decoy = PasswordHash::new(DECOY_HASH).expect("a PHC string");
        let real_hash = crate::password::hash_password("healing-demo").expect("hash");
        let real = PasswordHash::new(&real_hash).expect("a PHC string");
        assert_eq!(decoy.algorithm, real.algorithm);
        assert_eq!(decoy.version, real.version);
        assert_eq!(decoy.params, real.params);
        assert!(!crate::password::verify_password("", DECOY_HASH));
        assert!(!crate::password::verify_password(
            "healing-demo",
            DECOY_HASH
        ));
    }
}
