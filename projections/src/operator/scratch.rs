//! A scratch copy of a projection's tables in a schema of its own, filled by replaying the log.

use sqlx::{Connection, PgConnection};

use crate::error::ProjectorError;
use crate::operator::ReplayProgress;
use crate::read_models;
use crate::runtime::batch::apply_events;
use crate::runtime::log::{self, Checkpoint};
use events::LogPosition;
use read_side::Projection;

/// Before the first event.
pub(super) const ZERO: Checkpoint = Checkpoint {
    position: LogPosition::START,
    events_applied: 0,
};

/// The scratch schema of one projection (`hs_<purpose>_<projection>`).
pub(super) struct Scratch {
    pub projection: Projection,
    pub schema: String,
}

impl Scratch {
    /// The schema as a quoted identifier (names are ours: letters and underscores only).
    pub fn ident(&self) -> String {
        format!("\"{}\"", self.schema)
    }

    /// Creates empty tables in a fresh schema, replacing any leftover of an earlier run.
    pub async fn create(
        conn: &mut PgConnection,
        projection: Projection,
        purpose: &str,
    ) -> Result<Self, ProjectorError> {
        let scratch = Scratch {
            projection,
            schema: format!("hs_{purpose}_{}", projection.name()),
        };
        let ident = scratch.ident();
        let mut tx = conn.begin().await?;
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {ident} CASCADE"))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("CREATE SCHEMA {ident}"))
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT create_read_model($1, $2)")
            .bind(projection.name())
            .bind(&scratch.schema)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(scratch)
    }

    /// Drops the scratch tables' secondary indexes (not primary keys, unique constraints or the
    /// indexes the fold itself reads) and returns their definitions, to be created again by
    /// [`Self::create_indexes`] once the long replay has loaded the rows: building an index
    /// once over the whole table is much cheaper than keeping it up to date row by row.
    pub async fn defer_indexes(
        &self,
        conn: &mut PgConnection,
    ) -> Result<Vec<String>, ProjectorError> {
        let indexes: Vec<(String, String)> = sqlx::query_as(
            "SELECT format('%I.%I', n.nspname, c.relname), pg_get_indexdef(i.indexrelid)
             FROM pg_index i
             JOIN pg_class c ON c.oid = i.indexrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND NOT i.indisprimary AND NOT i.indisunique
               AND c.relname <> ALL($2)
             ORDER BY c.relname",
        )
        .bind(&self.schema)
        .bind(read_models::indexes_read_by_fold(self.projection))
        .fetch_all(&mut *conn)
        .await?;
        for (name, _) in &indexes {
            sqlx::query(&format!("DROP INDEX {name}"))
                .execute(&mut *conn)
                .await?;
        }
        Ok(indexes
            .into_iter()
            .map(|(_, definition)| definition)
            .collect())
    }

    /// Creates the indexes [`Self::defer_indexes`] dropped.
    pub async fn create_indexes(
        &self,
        conn: &mut PgConnection,
        definitions: &[String],
    ) -> Result<(), ProjectorError> {
        for definition in definitions {
            sqlx::query(definition).execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Drops the schema and everything in it.
    pub async fn drop(self, conn: &mut PgConnection) -> Result<(), ProjectorError> {
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.ident()))
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Points the current transaction's unqualified table names at the scratch tables.
    pub async fn enter(&self, conn: &mut PgConnection) -> Result<(), ProjectorError> {
        sqlx::query("SELECT set_config('search_path', $1, true)")
            .bind(format!("{}, public", self.ident()))
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Replays from `from` to `up_to` (bounded by the horizon) in committed batches.
    pub async fn replay(
        &self,
        conn: &mut PgConnection,
        mut from: Checkpoint,
        up_to: LogPosition,
        batch_size: u32,
        total: u64,
        on_progress: &dyn Fn(ReplayProgress),
    ) -> Result<Checkpoint, ProjectorError> {
        loop {
            let mut tx = conn.begin().await?;
            self.enter(&mut tx).await?;
            let events = log::read_after(&mut tx, from.position, up_to, batch_size).await?;
            let next = apply_events(&mut tx, self.projection, from, &events).await?;
            tx.commit().await?;
            let Some(next) = next else {
                return Ok(from);
            };
            from = next;
            on_progress(ReplayProgress {
                done: u64::try_from(from.events_applied).unwrap_or(0),
                total: total.max(u64::try_from(from.events_applied).unwrap_or(0)),
            });
            if events.len() < batch_size as usize {
                return Ok(from);
            }
        }
    }

    /// Replays from `from` to `up_to` inside the caller's transaction (already [`Self::enter`]ed).
    pub async fn replay_in(
        &self,
        tx: &mut PgConnection,
        mut from: Checkpoint,
        up_to: LogPosition,
        batch_size: u32,
    ) -> Result<Checkpoint, ProjectorError> {
        loop {
            let events = log::read_after(&mut *tx, from.position, up_to, batch_size).await?;
            match apply_events(&mut *tx, self.projection, from, &events).await? {
                Some(next) => from = next,
                None => return Ok(from),
            }
        }
    }
}
