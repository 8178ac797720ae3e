//! `hs-admin`: the operator's command line for accounts and schema.
//!
//! Every subcommand reads `DATABASE_URL` (or `--database-url`). See `docs/operations.md`.
//!
//! Exit codes: 0 success, 1 the command failed (user exists, database unreachable, ...), 2 bad
//! arguments (clap's usage errors). A reader that closes the pipe early ends it quietly.

use std::io::{Read, Write};
use std::process::ExitCode;

use accounts::{ApprovalStatus, NewUser, UserError};
use anyhow::{bail, Context};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand};
use events::Role;
use sqlx::PgPool;

/// The administrators' command line of Healing Space messaging: apply the schema migrations,
/// create users, approve clinicians for patients, seed the local demo users.
#[derive(Debug, Parser)]
#[command(name = "hs-admin", version)]
struct Cli {
    /// PostgreSQL URL of the event store and read tables.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply every pending schema migration (safe to repeat).
    Migrate,
    /// Create a user. The password is read from standard input (first line) unless
    /// --password-env names an environment variable holding it.
    CreateUser {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = role())]
        role: Role,
        #[arg(long)]
        display_name: Option<String>,
        /// Name of an environment variable that holds the password.
        #[arg(long)]
        password_env: Option<String>,
        /// Succeed without change when the user already exists.
        #[arg(long)]
        if_missing: bool,
    },
    /// Approve or revoke a clinician's access to a patient.
    SetApproval {
        #[arg(long)]
        clinician: String,
        #[arg(long)]
        patient: String,
        #[arg(long, value_parser = approval())]
        status: ApprovalStatus,
    },
    /// Create the local demo users (admin, auditor, alice, bob, dr_carol, dr_dave) where
    /// missing, all with the password `healing-demo`, and approve dr_carol for alice.
    /// For local use only.
    SeedDemo,
    /// Erase every message sent longer ago than --older-than, except those under a legal
    /// hold: their data keys are destroyed and `MessageErased` recorded, as by
    /// `POST /api/admin/messages/{id}/erase` (docs/privacy.md). Resumable: run it again.
    Retention {
        /// How old a message must be: a DURATION like 30d, 12w or 7y (365 days a year).
        #[arg(long, value_parser = gateway::privacy::parse_duration)]
        older_than: chrono::Duration,
        /// The administrator responsible, recorded as the erasures' actor.
        #[arg(long = "as", value_name = "ADMIN")]
        admin: String,
        /// Count what would be erased; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Data-key management (docs/privacy.md).
    #[command(subcommand)]
    Keys(Keys),
}

#[derive(Debug, Subcommand)]
enum Keys {
    /// Rewrap every live data key under key-encryption key KEY_ID of HS_KEK_FILE, without
    /// touching the event log. Resumable: run it again after an interruption.
    Rotate {
        /// The key-encryption key to wrap with (an id of HS_KEK_FILE; put it first in the file
        /// so that new data keys use it too).
        #[arg(long, value_name = "KEY_ID")]
        to: String,
        /// Data keys rewrapped per transaction.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(i64).range(1..=100_000))]
        batch: i64,
    },
}

const DEMO_PASSWORD: &str = "healing-demo";

const DEMO_USERS: [(&str, Role, &str); 6] = [
    ("admin", Role::Admin, "Administrator"),
    ("auditor", Role::Auditor, "Auditor"),
    ("alice", Role::Patient, "Alice Anders"),
    ("bob", Role::Patient, "Bob Brown"),
    ("dr_carol", Role::Clinician, "Dr. Carol Chen"),
    ("dr_dave", Role::Clinician, "Dr. Dave Diaz"),
];

/// A role's name, checked by clap (a wrong one is a usage error listing the roles).
fn role() -> impl TypedValueParser<Value = Role> {
    PossibleValuesParser::new(Role::ALL.map(Role::as_str)).try_map(|name| name.parse::<Role>())
}

/// `approved` or `revoked`, checked by clap.
fn approval() -> impl TypedValueParser<Value = ApprovalStatus> {
    PossibleValuesParser::new(["approved", "revoked"]).map(|name| {
        if name == "approved" {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Revoked
        }
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        // The reader has gone (`hs-admin ... | head`): nothing left to say to anyone.
        Err(err) if closed_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hs-admin: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether `err` comes from writing to a pipe whose reader has closed it.
fn closed_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // The keys before anything else: a missing or malformed HS_KEK_FILE changes nothing.
    if matches!(cli.command, Command::Retention { .. } | Command::Keys(_)) {
        vault::process()?;
    }
    let pool = http_edge::connect_pool(&http_edge::DatabaseUrl(cli.database_url), 2).await?;
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Migrate => {
            migrations::MIGRATOR.run(&pool).await?;
            writeln!(out, "migrations applied")?;
        }
        Command::CreateUser {
            username,
            role,
            display_name,
            password_env,
            if_missing,
        } => {
            let password = match password_env {
                Some(var) => std::env::var(&var).with_context(|| format!("{var} is not set"))?,
                None => read_password()?,
            };
            let new = NewUser {
                username,
                role,
                password,
                display_name,
            };
            writeln!(out, "{}", create(&pool, new, if_missing).await?)?;
        }
        Command::SetApproval {
            clinician,
            patient,
            status,
        } => {
            accounts::set_approval(&pool, &clinician, &patient, status).await?;
            writeln!(out, "{clinician} -> {patient}: {}", status.as_str())?;
        }
        Command::SeedDemo => {
            for (username, role, display_name) in DEMO_USERS {
                let new = NewUser {
                    username: username.into(),
                    role,
                    password: DEMO_PASSWORD.into(),
                    display_name: Some(display_name.into()),
                };
                writeln!(out, "{}", create(&pool, new, true).await?)?;
            }
            accounts::set_approval(&pool, "dr_carol", "alice", ApprovalStatus::Approved).await?;
            writeln!(
                out,
                "demo users ready (password `{DEMO_PASSWORD}`, local use only)"
            )?;
        }
        Command::Retention {
            older_than,
            admin,
            dry_run,
        } => {
            if !dry_run {
                vault::check_at_start(&pool).await?;
            }
            let task = gateway::privacy::Retention {
                older_than,
                admin,
                dry_run,
            };
            gateway::privacy::retention(&pool, task, &mut out).await?;
        }
        Command::Keys(Keys::Rotate { to, batch }) => {
            gateway::privacy::rotate(&pool, &to, batch, &mut out).await?;
        }
    }
    Ok(())
}

/// Creates the user; returns the line to print.
async fn create(pool: &PgPool, new: NewUser, if_missing: bool) -> anyhow::Result<String> {
    let username = new.username.clone();
    match accounts::create_user(pool, new).await {
        Ok(user) => Ok(format!("created {} ({})", user.username, user.role)),
        Err(UserError::AlreadyExists(_)) if if_missing => Ok(format!("{username} exists")),
        Err(err) => Err(err.into()),
    }
}

fn read_password() -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut input)
        .context("cannot read the password from standard input")?;
    let password = input.lines().next().unwrap_or_default().to_owned();
    if password.is_empty() {
        bail!("no password on standard input (or use --password-env)");
    }
    Ok(password)
}
