//! `hs-admin`: the operator's command line for accounts and schema.
//!
//! Every subcommand reads `DATABASE_URL` (or `--database-url`). See `docs/operations.md`.

use std::io::Read;

use accounts::{ApprovalStatus, NewUser, UserError};
use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use events::Role;
use sqlx::PgPool;

/// Operator commands of Healing Space messaging.
#[derive(Debug, Parser)]
#[command(name = "hs-admin", version, about)]
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
        /// patient, clinician, admin or auditor.
        #[arg(long)]
        role: String,
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
        /// approved or revoked.
        #[arg(long)]
        status: String,
    },
    /// Create the local demo users (admin, auditor, alice, bob, dr_carol, dr_dave) where
    /// missing, all with the password `healing-demo`, and approve dr_carol for alice.
    /// For local use only.
    SeedDemo,
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let pool = PgPool::connect(&cli.database_url)
        .await
        .context("cannot connect to the database")?;
    match cli.command {
        Command::Migrate => {
            migrations::MIGRATOR.run(&pool).await?;
            println!("migrations applied");
        }
        Command::CreateUser {
            username,
            role,
            display_name,
            password_env,
            if_missing,
        } => {
            let role: Role = role.parse()?;
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
            create(&pool, new, if_missing).await?;
        }
        Command::SetApproval {
            clinician,
            patient,
            status,
        } => {
            let Some(status) = ApprovalStatus::parse(&status) else {
                bail!("status must be `approved` or `revoked`");
            };
            accounts::set_approval(&pool, &clinician, &patient, status).await?;
            println!("{clinician} -> {patient}: {}", status.as_str());
        }
        Command::SeedDemo => {
            for (username, role, display_name) in DEMO_USERS {
                let new = NewUser {
                    username: username.into(),
                    role,
                    password: DEMO_PASSWORD.into(),
                    display_name: Some(display_name.into()),
                };
                create(&pool, new, true).await?;
            }
            accounts::set_approval(&pool, "dr_carol", "alice", ApprovalStatus::Approved).await?;
            println!("demo users ready (password `{DEMO_PASSWORD}`, local use only)");
        }
    }
    Ok(())
}

async fn create(pool: &PgPool, new: NewUser, if_missing: bool) -> anyhow::Result<()> {
    let username = new.username.clone();
    match accounts::create_user(pool, new).await {
        Ok(user) => println!("created {} ({})", user.username, user.role),
        Err(UserError::AlreadyExists(_)) if if_missing => println!("{username} exists"),
        Err(err) => return Err(err.into()),
    }
    Ok(())
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
