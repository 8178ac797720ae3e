//! Who can log in and who is assigned to whom.
//!
//! `users` and `patient_approvals` are plain tables (configuration, not event-sourced). This crate
//! owns every statement on them: creating users with argon2 password hashes, verifying logins in
//! constant-ish time whether or not the user exists, setting approvals, and [`PgDirectory`], the
//! PostgreSQL implementation of the domain's [`events::Directory`].
//!
//! Users, approvals and sessions change rarely and are read on every request, so processes keep
//! them in memory ([`cache`]): PostgreSQL announces every change of these tables (triggers, `NOTIFY
//! hs_accounts`), one [`ChangeListener`] per process drops what a change touches, or turns every
//! cache off while it cannot hear, and a process that makes a change waits until every other
//! has applied it before it answers ([`changes`]).

pub mod cache;
pub mod changes;
mod control;
mod directory;
mod listener;
mod password;
mod users;

pub use changes::{AccountCaches, AccountChange, Invalidate};
pub use control::{disable_user, enable_user};
pub use directory::{DirectoryCache, PgDirectory, FIND_USER, IS_ASSIGNED, IS_BLOCKED_BETWEEN};
pub use listener::ChangeListener;
pub use password::{hash_password, verify_password, PasswordError, PasswordWorkers};
pub use users::{
    authenticate, create_user, find_user, set_approval, ApprovalStatus, NewUser, User, UserError,
};
