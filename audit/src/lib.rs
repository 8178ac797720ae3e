//! The audit trail of Healing Space messaging (HIPAA §164.312(b), ONC §170.315(d)(2)).
//!
//! * [`entry`]: one audit entry per event of the log — who, what, which message, when, from
//!   where — and never a subject or content.
//! * [`chain`]: the tamper-evident hash chain over the entries in commit order: each entry's hash
//!   covers the previous hash and the canonical form of its event. The projector computes it
//!   (`projections`' `audit_log` projection); [`verify`] recomputes it from the log.
//! * [`access`]: the access log of reads (who looked at what), written off the request path in
//!   batches; [`access_chain`]: its own hash chain (computed by the database as rows are
//!   appended), recomputed by `audit verify`.
//! * [`export`]: a patient's records request as JSON lines or CSV.
//!
//! The `audit` binary (`verify`, `head`, `export`) is the auditors' command line.

pub mod access;
pub mod access_chain;
pub mod chain;
pub mod entry;
pub mod export;
pub mod verify;

pub use chain::{canonical_event, link, ChainHash, LoggedEvent, GENESIS};
pub use entry::{audit_entry, AuditEntry};
