//! The domain's [`Directory`] over the `users` and `patient_approvals` tables, with an optional
//! in-process cache of both (kept correct by [`crate::changes`]).

use std::sync::Arc;

use async_trait::async_trait;
use events::{Directory, DirectoryError, Role, UserInfo};
use sqlx::PgPool;

use crate::cache::Cache;
use crate::changes::{AccountChange, Invalidate};

/// A user's name and role (a primary-key probe).
pub const FIND_USER: &str = "SELECT username, role FROM users WHERE username = $1";

/// Whether a clinician is approved for a patient (a primary-key probe).
pub const IS_ASSIGNED: &str = "SELECT EXISTS (SELECT 1 FROM patient_approvals
    WHERE clinician = $1 AND patient = $2 AND status = 'approved')";

/// Whether `$1` blocks `$2` or `$2` blocks `$1`: the last event of each pair's `block` stream
/// (two primary-key probes, backwards, one row each).
pub const IS_BLOCKED_BETWEEN: &str = "SELECT coalesce(bool_or(last = 'UserBlocked'), false)
    FROM (SELECT (SELECT e.event_type FROM events e
                  WHERE e.aggregate_type = 'block' AND e.aggregate_id = k
                  ORDER BY e.sequence DESC LIMIT 1) AS last
          FROM unnest(ARRAY[$1 || '/' || $2, $2 || '/' || $1]) AS k) pairs";

fn store_error(err: sqlx::Error) -> DirectoryError {
    DirectoryError::Store(Box::new(err))
}

/// Users' roles (and "no such user", which user creation invalidates) and approvals, as the
/// policy last read them.
#[derive(Debug)]
pub struct DirectoryCache {
    users: Cache<String, Option<Role>>,
    approvals: Cache<(String, String), bool>,
}

impl DirectoryCache {
    /// At most `capacity` users and `capacity` approvals; dark until a listener turns it on.
    pub fn new(capacity: usize) -> Self {
        Self {
            users: Cache::new("users", capacity),
            approvals: Cache::new("approvals", capacity),
        }
    }

    /// Whether it answers from memory (its process hears every change).
    pub fn is_live(&self) -> bool {
        self.users.is_live()
    }
}

impl Invalidate for DirectoryCache {
    fn invalidate(&self, change: &AccountChange) {
        match change {
            AccountChange::User(username) => self.users.invalidate(username.as_str()),
            AccountChange::Approval { clinician, patient } => self
                .approvals
                .invalidate(&(clinician.clone(), patient.clone())),
            AccountChange::Session(_) => {}
        }
    }

    fn go_dark(&self) {
        self.users.go_dark();
        self.approvals.go_dark();
    }

    fn go_live(&self) {
        self.users.go_live();
        self.approvals.go_live();
    }
}

/// Answers the messaging policy's questions from PostgreSQL, or from its cache while that is
/// live.
#[derive(Debug, Clone)]
pub struct PgDirectory {
    pool: PgPool,
    cache: Arc<DirectoryCache>,
}

impl PgDirectory {
    /// A directory reading through `pool` on every question.
    pub fn new(pool: PgPool) -> Self {
        Self::cached(pool, 0)
    }

    /// A directory that keeps up to `capacity` users and approvals in memory once its
    /// [`PgDirectory::cache`] is registered with the process's [`crate::AccountCaches`].
    pub fn cached(pool: PgPool, capacity: usize) -> Self {
        Self {
            pool,
            cache: Arc::new(DirectoryCache::new(capacity)),
        }
    }

    /// Its cache, for the process's listener and for the process's own writes.
    pub fn cache(&self) -> Arc<DirectoryCache> {
        self.cache.clone()
    }
}

#[async_trait]
impl Directory for PgDirectory {
    async fn find_user(&self, username: &str) -> Result<Option<UserInfo>, DirectoryError> {
        let info = |role| UserInfo {
            username: username.to_owned(),
            role,
        };
        if let Some(role) = self.cache.users.get(username) {
            return Ok(role.map(info));
        }
        let ticket = self.cache.users.ticket();
        let row: Option<(String, String)> = sqlx::query_as(FIND_USER)
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        let role = row
            .map(|(_, role)| {
                role.parse::<Role>()
                    .map_err(|e| DirectoryError::Invalid(e.to_string()))
            })
            .transpose()?;
        if let Some(ticket) = ticket {
            self.cache.users.insert(ticket, username.to_owned(), role);
        }
        Ok(role.map(info))
    }

    async fn is_assigned(&self, clinician: &str, patient: &str) -> Result<bool, DirectoryError> {
        let key = (clinician.to_owned(), patient.to_owned());
        if let Some(assigned) = self.cache.approvals.get(&key) {
            return Ok(assigned);
        }
        let ticket = self.cache.approvals.ticket();
        let assigned = sqlx::query_scalar(IS_ASSIGNED)
            .bind(clinician)
            .bind(patient)
            .fetch_one(&self.pool)
            .await
            .map_err(store_error)?;
        if let Some(ticket) = ticket {
            self.cache.approvals.insert(ticket, key, assigned);
        }
        Ok(assigned)
    }

    /// Read from the log on every question (never cached: a block takes effect at once).
    async fn is_blocked_between(&self, a: &str, b: &str) -> Result<bool, DirectoryError> {
        sqlx::query_scalar(IS_BLOCKED_BETWEEN)
            .bind(a)
            .bind(b)
            .fetch_one(&self.pool)
            .await
            .map_err(store_error)
    }
}
