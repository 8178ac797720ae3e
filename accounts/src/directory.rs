//! The domain's [`Directory`] over the `users` and `patient_approvals` tables.

use async_trait::async_trait;
use events::{Directory, DirectoryError, UserInfo};
use sqlx::PgPool;

/// A user's name and role (a primary-key probe).
pub const FIND_USER: &str = "SELECT username, role FROM users WHERE username = $1";

/// Whether a clinician is approved for a patient (a primary-key probe).
pub const IS_ASSIGNED: &str = "SELECT EXISTS (SELECT 1 FROM patient_approvals
    WHERE clinician = $1 AND patient = $2 AND status = 'approved')";

fn store_error(err: sqlx::Error) -> DirectoryError {
    DirectoryError::Store(Box::new(err))
}

/// Answers the messaging policy's questions from PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgDirectory {
    pool: PgPool,
}

impl PgDirectory {
    /// A directory reading through `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl Directory for PgDirectory {
    async fn find_user(&self, username: &str) -> Result<Option<UserInfo>, DirectoryError> {
        let row: Option<(String, String)> = sqlx::query_as(FIND_USER)
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        row.map(|(username, role)| {
            role.parse()
                .map(|role| UserInfo { username, role })
                .map_err(|e| DirectoryError::Invalid(e.to_string()))
        })
        .transpose()
    }

    async fn is_assigned(&self, clinician: &str, patient: &str) -> Result<bool, DirectoryError> {
        sqlx::query_scalar(IS_ASSIGNED)
            .bind(clinician)
            .bind(patient)
            .fetch_one(&self.pool)
            .await
            .map_err(store_error)
    }
}
