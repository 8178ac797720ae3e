//! Who can log in and who is assigned to whom.
//!
//! `users` and `patient_approvals` are plain tables (configuration, not event-sourced). This crate
//! owns every statement on them: creating users with argon2 password hashes, verifying logins in
//! constant-ish time whether or not the user exists, setting approvals, and [`PgDirectory`], the
//! PostgreSQL implementation of the domain's [`events::Directory`].

mod control;
mod directory;
mod password;
mod users;

pub use control::{disable_user, enable_user};
pub use directory::{PgDirectory, FIND_USER, IS_ASSIGNED};
pub use password::{hash_password, verify_password, PasswordError, PasswordWorkers};
pub use users::{
    authenticate, create_user, find_user, set_approval, ApprovalStatus, NewUser, User, UserError,
};
