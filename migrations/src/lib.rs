//! The database schema of Healing Space messaging, as timestamped SQL files under `sql/`,
//! embedded at compile time. Every binary applies them with [`MIGRATOR`]; tests get a fresh,
//! migrated database each through `#[sqlx::test(migrator = "migrations::MIGRATOR")]`.

/// All migrations, in order.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./sql");
