//! The key tables: `key_encryption_keys` (each KEK id with a check value) and `data_keys` (one
//! wrapped key per message, `NULL` once destroyed).

use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::error::VaultError;
use crate::{Keyring, NewKey};

/// Data keys to store and to destroy in the statement that appends their events: three arrays
/// for `unnest` (`$ids, $keks, $wrapped`) and one of keys to destroy.
#[derive(Debug, Default)]
pub struct KeyChanges {
    pub ids: Vec<Uuid>,
    pub keks: Vec<String>,
    pub wrapped: Vec<Vec<u8>>,
    pub destroy: Vec<Uuid>,
}

impl KeyChanges {
    pub(crate) fn insert(&mut self, key: NewKey) {
        self.ids.push(key.key_id);
        self.keks.push(key.kek_id);
        self.wrapped.push(key.wrapped);
    }
}

/// CTEs to put before an append's `INSERT INTO events`, binding [`KeyChanges`] as `$first`
/// (ids), `$first+1` (KEK ids), `$first+2` (wrapped keys) and `$first+3` (keys to destroy).
/// A new key that exists already fails the whole statement (a unique violation), like an event
/// at a taken sequence.
pub fn append_ctes(first: usize) -> String {
    format!(
        "new_keys AS (
             INSERT INTO data_keys (key_id, kek_id, wrapped)
             SELECT * FROM unnest(${0}::uuid[], ${1}::text[], ${2}::bytea[])),
         destroyed_keys AS (
             UPDATE data_keys SET wrapped = NULL, kek_id = NULL, destroyed_at = now()
             WHERE key_id = ANY(${3}::uuid[]) AND wrapped IS NOT NULL),",
        first,
        first + 1,
        first + 2,
        first + 3
    )
}

/// A stored data key: its KEK and wrapped bytes, or `None` when destroyed.
pub(crate) type Stored = Option<(String, Vec<u8>)>;

/// The stored keys among `ids` (primary-key probes); absent ids are left out.
pub(crate) async fn fetch<'c>(
    db: impl sqlx::PgExecutor<'c>,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, Stored)>, VaultError> {
    let rows =
        sqlx::query("SELECT key_id, kek_id, wrapped FROM data_keys WHERE key_id = ANY($1::uuid[])")
            .bind(ids)
            .fetch_all(db)
            .await?;
    rows.iter()
        .map(|row| {
            let id: Uuid = row.try_get("key_id")?;
            let kek: Option<String> = row.try_get("kek_id")?;
            let wrapped: Option<Vec<u8>> = row.try_get("wrapped")?;
            Ok((id, kek.zip(wrapped)))
        })
        .collect()
}

/// Start-up check: every KEK this database has registered (those wrapping data keys among them)
/// must be in the file and be the same key (its check value opens); the active KEK is
/// registered if it is new. Fails, changing nothing, on a missing or wrong key.
pub async fn check(pool: &PgPool, keyring: &Keyring) -> Result<(), VaultError> {
    let rows = sqlx::query(
        "SELECT k.kek_id, k.check_value,
                EXISTS (SELECT 1 FROM data_keys d
                        WHERE d.kek_id = k.kek_id AND d.wrapped IS NOT NULL) AS in_use
         FROM key_encryption_keys k",
    )
    .fetch_all(pool)
    .await?;
    let mut active_known = false;
    for row in &rows {
        let id: String = row.try_get("kek_id")?;
        let check: Vec<u8> = row.try_get("check_value")?;
        let in_use: bool = row.try_get("in_use")?;
        if keyring.has(&id) {
            keyring.verify_check(&id, &check)?;
        } else if in_use {
            return Err(VaultError::MissingKek(id));
        }
        active_known |= id == keyring.active();
    }
    if !active_known {
        register(pool, keyring, keyring.active()).await?;
    }
    Ok(())
}

/// Registers KEK `kek_id` of `keyring` (its check value), unless registered already.
pub async fn register(pool: &PgPool, keyring: &Keyring, kek_id: &str) -> Result<(), VaultError> {
    sqlx::query(
        "INSERT INTO key_encryption_keys (kek_id, check_value) VALUES ($1, $2)
         ON CONFLICT (kek_id) DO NOTHING",
    )
    .bind(kek_id)
    .bind(keyring.check_value(kek_id)?)
    .execute(pool)
    .await?;
    // Another process may have registered a different key under this id first.
    let check: Vec<u8> =
        sqlx::query_scalar("SELECT check_value FROM key_encryption_keys WHERE kek_id = $1")
            .bind(kek_id)
            .fetch_one(pool)
            .await?;
    keyring.verify_check(kek_id, &check)
}

/// How far a rotation has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationProgress {
    /// Live data keys not yet wrapped by the target KEK.
    pub remaining: i64,
}

/// Live data keys not wrapped by `to` yet.
pub async fn rotation_remaining(pool: &PgPool, to: &str) -> Result<RotationProgress, VaultError> {
    let remaining: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM data_keys WHERE wrapped IS NOT NULL AND kek_id <> $1",
    )
    .bind(to)
    .fetch_one(pool)
    .await?;
    Ok(RotationProgress { remaining })
}

/// What one [`rotate_batch`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotatedBatch {
    /// Keys rewrapped.
    pub rewrapped: u64,
    /// Where the next batch starts (the keys are walked in `key_id` order, the primary key);
    /// `None` when the walk is over.
    pub next: Option<Uuid>,
}

/// Rewraps the live data keys not under KEK `to` among the next `limit` keys after `after` (in
/// `key_id` order, a primary-key range), in one transaction (rows locked, so an erasure at the
/// same moment either destroys the old wrapping first or the new one after). Nothing in the log
/// changes. Walk from `Uuid::nil()` until `next` is `None`; an interrupted rotation is simply
/// walked again (what is done is skipped).
pub async fn rotate_batch(
    pool: &PgPool,
    keyring: &Keyring,
    to: &str,
    after: Uuid,
    limit: i64,
) -> Result<RotatedBatch, VaultError> {
    let mut tx = pool.begin().await?;
    // The end of this range: the `limit`-th key after `after`, if there is one.
    let end: Option<Uuid> = sqlx::query_scalar(
        "SELECT key_id FROM data_keys WHERE key_id > $1 ORDER BY key_id OFFSET $2 - 1 LIMIT 1",
    )
    .bind(after)
    .bind(limit)
    .fetch_optional(&mut *tx)
    .await?;
    let rows = sqlx::query(
        "SELECT key_id, kek_id, wrapped FROM data_keys
         WHERE key_id > $2 AND ($3::uuid IS NULL OR key_id <= $3)
           AND wrapped IS NOT NULL AND kek_id <> $1
         ORDER BY key_id FOR UPDATE",
    )
    .bind(to)
    .bind(after)
    .bind(end)
    .fetch_all(&mut *tx)
    .await?;
    let (mut ids, mut rewrapped) = (
        Vec::with_capacity(rows.len()),
        Vec::with_capacity(rows.len()),
    );
    for row in &rows {
        let id: Uuid = row.try_get("key_id")?;
        let kek: String = row.try_get("kek_id")?;
        let wrapped: Vec<u8> = row.try_get("wrapped")?;
        let key = keyring.unwrap_key(&kek, id, &wrapped)?;
        ids.push(id);
        rewrapped.push(keyring.wrap(to, id, &key)?);
    }
    let done = sqlx::query(
        "UPDATE data_keys d SET kek_id = $1, wrapped = r.wrapped
         FROM unnest($2::uuid[], $3::bytea[]) AS r (key_id, wrapped)
         WHERE d.key_id = r.key_id AND d.wrapped IS NOT NULL",
    )
    .bind(to)
    .bind(&ids)
    .bind(&rewrapped)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(RotatedBatch {
        rewrapped: done,
        next: end,
    })
}
