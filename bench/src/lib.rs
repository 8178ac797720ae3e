//! Benchmark harness of Healing Space messaging: the service measured against raw PostgreSQL
//! on the same machine, in the same run.
//!
//! [`run`] creates a fresh database on the given server, loads a generated history (users and
//! approvals in bulk; messages, replies, reads and deletes as events COPYed straight into the
//! log), times `projector rebuild --all` over it, starts the `gateway` binary as a child process
//! with rate limits out of the way, and measures sends, inbox, sent, conversation and search
//! (throughput and p50/p95/p99 over closed-loop clients), the projection lag and the gateway's
//! peak memory. Then PostgreSQL alone does the same work with pgbench (one event row appended
//! per transaction; each read's SQL) and set-based SQL (the replay), and every service figure
//! is reported as a ratio of the raw one ([`Report`], printed by [`table::render`]).
//! `docs/benchmarks.md` says how to run it and what each figure means.

pub mod client;
pub mod data;
pub mod database;
pub mod drivers;
mod error;
pub mod gateway;
pub mod machine;
pub mod markdown;
pub mod measurement;
pub mod options;
pub mod pgbench;
pub mod progress;
pub mod raw;
pub mod raw_replay;
pub mod raw_sql;
pub mod replay;
pub mod report;
pub mod run;
pub mod runner;
pub mod scenarios;
pub mod service;
pub mod table;

pub use error::{BenchError, BenchResult};
pub use options::BenchOptions;
pub use report::Report;
pub use run::run;
