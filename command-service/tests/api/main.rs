//! Black-box tests of the command API: the real router against a fresh, migrated PostgreSQL
//! database per test.

mod helpers;

mod admin;
mod caches;
mod errors;
mod hardening;
mod idempotency;
mod messages;
mod receipts;
mod sessions;
mod text_input;
