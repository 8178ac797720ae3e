//! What the domain needs to know about people, asked through a trait so the domain stays pure.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A user's role, as stored in the `users` table and carried by events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Patient,
    Clinician,
    Admin,
    Auditor,
}

impl Role {
    /// Every role, in a stable order (for tables and tests).
    pub const ALL: [Role; 4] = [Role::Patient, Role::Clinician, Role::Admin, Role::Auditor];

    /// The role's name as the API and the database spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Clinician => "clinician",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not one of the four roles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// What the domain knows of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub username: String,
    pub role: Role,
}

/// The directory could not answer.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// Its store failed; the cause (for example a database error) is kept so the edge can tell
    /// an outage (503) from a bug (500).
    #[error("directory store failed: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// It holds something the domain cannot read (an unknown role): a bug or a bad migration.
    #[error("directory data is invalid: {0}")]
    Invalid(String),
}

/// Users, roles and clinician approvals, as the messaging policy needs them.
#[async_trait]
pub trait Directory: Send + Sync {
    /// The user of that name, or `None` when there is none.
    async fn find_user(&self, username: &str) -> Result<Option<UserInfo>, DirectoryError>;

    /// Whether `patient` is assigned to `clinician` with an `approved` status.
    async fn is_assigned(&self, clinician: &str, patient: &str) -> Result<bool, DirectoryError>;

    /// Whether `a` blocks `b` or `b` blocks `a` now (the `block` streams of the log).
    async fn is_blocked_between(&self, a: &str, b: &str) -> Result<bool, DirectoryError>;
}

/// The aggregate's cqrs-es `Services`: a shared directory.
pub type MessagingServices = Arc<dyn Directory>;
