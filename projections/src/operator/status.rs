//! `projector status`: each projection's checkpoint, lag and whether a leader is running.

use chrono::{DateTime, Utc};
use events::LogPosition;
use sqlx::PgPool;

use crate::error::ProjectorError;
use crate::runtime::locks;
use read_side::parse_xid;

/// One projection's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionStatus {
    pub projection: String,
    pub position: LogPosition,
    pub events_applied: i64,
    pub updated_at: DateTime<Utc>,
    /// Committed events not applied yet.
    pub pending: i64,
    /// When the oldest of those was recorded (the lag is `now - this`).
    pub oldest_pending_at: Option<DateTime<Utc>>,
    /// Whether some projector session holds this projection's leader lock.
    pub leader_active: bool,
}

type StatusRow = (
    String,
    String,
    i64,
    i64,
    DateTime<Utc>,
    i64,
    Option<DateTime<Utc>>,
    bool,
);

/// The state of every projection with a checkpoint row.
pub async fn status(pool: &PgPool) -> Result<Vec<ProjectionStatus>, ProjectorError> {
    let rows: Vec<StatusRow> = sqlx::query_as(
        "SELECT c.projection, c.transaction_id::text, c.global_position, c.events_applied,
                c.updated_at, p.pending, p.oldest,
                EXISTS (SELECT 1 FROM pg_locks l
                        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                          AND l.database = (SELECT oid FROM pg_database
                                            WHERE datname = current_database())
                          AND l.classid = $1::oid AND l.objid = hashtext(c.projection)::oid)
         FROM projection_checkpoints c
         CROSS JOIN LATERAL (
             SELECT count(*) AS pending, min(e.recorded_at) AS oldest FROM events e
             WHERE (e.transaction_id, e.global_position)
                   > (c.transaction_id, c.global_position)) p
         ORDER BY c.projection",
    )
    .bind(locks::LEADER)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(
            |(
                projection,
                xid,
                global_position,
                events_applied,
                updated_at,
                pending,
                oldest,
                leader,
            )| {
                Ok(ProjectionStatus {
                    projection,
                    position: LogPosition {
                        transaction_id: parse_xid(&xid)?,
                        global_position,
                    },
                    events_applied,
                    updated_at,
                    pending,
                    oldest_pending_at: oldest,
                    leader_active: leader,
                })
            },
        )
        .collect()
}
