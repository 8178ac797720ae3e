//! The statements of `GET /api/audit/log` and `GET /api/audit/access` (auditors and admins
//! read everyone's trail, so no caller filter here).
//!
//! Each endpoint has one statement per leading filter, chosen by the most selective filter the
//! request has (message, then actor, then counterpart, then action, then time, else none), so
//! that every variant is an index range scan: the leading filter and the keyset position are
//! the index condition, the other filters (null when absent) are conditions on the rows found.
//! A time range alone pages over the time index in `(occurred_at, seq|id)` order; every other
//! variant in `seq` (chain) or `id` order. Both are oldest first.
//!
//! Two choices keep the plans right as generic plans too (prepared statements switch to one
//! after a few runs, planned without the values):
//! * The leading actor, counterpart and action filters are keyset ranges, `(action, seq) >
//!   ($1, $2) AND action <= $1` ordered by `(action, seq)`, rather than `action = $1 AND seq >
//!   $2` ordered by `seq`: with an equality the planner may walk the primary key and filter
//!   (cheap for a common value, a scan of the whole log for a rare one); the range leaves the
//!   composite index as the only ordered path. Same rows, same order. The message id stays an
//!   equality (nearly unique, so no other path competes).
//! * Secondary time bounds are written `($n IS NULL OR occurred_at >= $n)`, which no index
//!   serves, so a generic plan cannot trade the leading index for a time-index bitmap over a
//!   range it cannot see.

/// The columns of an audit entry, in the order the handler reads them.
macro_rules! log_columns {
    () => {
        "SELECT seq, position, occurred_at, actor, action, message_id, request_id, client_ip, \
         details FROM audit_log "
    };
}

/// Entries of message `$1` after seq `$2`; actor `$3`, action `$4`, from `$5` (inclusive)
/// and to `$6` (exclusive) if not null; `$7` rows. Index `(message_id, seq)`.
pub const LOG_BY_MESSAGE: &str = concat!(
    log_columns!(),
    "WHERE message_id = $1 AND seq > $2
       AND ($3::text IS NULL OR actor = $3) AND ($4::text IS NULL OR action = $4)
       AND ($5::timestamptz IS NULL OR occurred_at >= $5)
       AND ($6::timestamptz IS NULL OR occurred_at < $6)
     ORDER BY seq LIMIT $7"
);

/// Entries by actor `$1` after seq `$2`; action `$3`, from `$4` and to `$5` if not null;
/// `$6` rows. Index `(actor, seq)`.
pub const LOG_BY_ACTOR: &str = concat!(
    log_columns!(),
    "WHERE (actor, seq) > ($1, $2) AND actor <= $1 AND ($3::text IS NULL OR action = $3)
       AND ($4::timestamptz IS NULL OR occurred_at >= $4)
       AND ($5::timestamptz IS NULL OR occurred_at < $5)
     ORDER BY actor, seq LIMIT $6"
);

/// Entries of action `$1` after seq `$2`; from `$3` and to `$4` if not null; `$5` rows.
/// Index `(action, seq)`.
pub const LOG_BY_ACTION: &str = concat!(
    log_columns!(),
    "WHERE (action, seq) > ($1, $2) AND action <= $1
       AND ($3::timestamptz IS NULL OR occurred_at >= $3)
       AND ($4::timestamptz IS NULL OR occurred_at < $4)
     ORDER BY action, seq LIMIT $5"
);

/// Entries after (`$1` time, `$2` seq) and before `$3`, in time order; `$4` rows. The first
/// page starts after (`from` or the far past, 0) and `$3` is `to` or the far future. Index
/// `(occurred_at, seq)`.
pub const LOG_BY_TIME: &str = concat!(
    log_columns!(),
    "WHERE (occurred_at, seq) > ($1, $2) AND occurred_at < $3
     ORDER BY occurred_at, seq LIMIT $4"
);

/// Every entry after seq `$1`; `$2` rows. The primary key.
pub const LOG_ALL: &str = concat!(log_columns!(), "WHERE seq > $1 ORDER BY seq LIMIT $2");

/// The columns of an access-log entry, in the order the handler reads them.
macro_rules! access_columns {
    () => {
        "SELECT id, occurred_at, actor, role, action, counterpart, message_ids, query_length, \
         result_count, request_id, client_ip FROM access_log "
    };
}

/// Reads that showed message `$1`, after id `$2`; actor `$3`, counterpart `$4`, action `$5`,
/// from `$6` and to `$7` if not null; `$8` rows. The GIN index on `message_ids` finds the
/// reads of the message first (a materialized step, so that a generic plan cannot trade it for
/// a walk of the time or id index); a message is read a bounded number of times, so those rows
/// are then filtered and sorted by id.
pub const ACCESS_BY_MESSAGE: &str = "
WITH reads AS MATERIALIZED (
    SELECT id FROM access_log WHERE message_ids @> ARRAY[$1::uuid]
)
SELECT a.id, a.occurred_at, a.actor, a.role, a.action, a.counterpart, a.message_ids,
       a.query_length, a.result_count, a.request_id, a.client_ip
FROM reads JOIN access_log a ON a.id = reads.id
WHERE reads.id > $2
  AND ($3::text IS NULL OR a.actor = $3) AND ($4::text IS NULL OR a.counterpart = $4)
  AND ($5::text IS NULL OR a.action = $5)
  AND ($6::timestamptz IS NULL OR a.occurred_at >= $6)
  AND ($7::timestamptz IS NULL OR a.occurred_at < $7)
ORDER BY a.id LIMIT $8";

/// Reads by `$1` after id `$2`; counterpart `$3`, action `$4`, from `$5` and to `$6` if not
/// null; `$7` rows. Index `(actor, id)`.
pub const ACCESS_BY_ACTOR: &str = concat!(
    access_columns!(),
    "WHERE (actor, id) > ($1, $2) AND actor <= $1
       AND ($3::text IS NULL OR counterpart = $3) AND ($4::text IS NULL OR action = $4)
       AND ($5::timestamptz IS NULL OR occurred_at >= $5)
       AND ($6::timestamptz IS NULL OR occurred_at < $6)
     ORDER BY actor, id LIMIT $7"
);

/// Reads of `$1`'s conversations (or trail) after id `$2`; action `$3`, from `$4` and to `$5`
/// if not null; `$6` rows. Index `(counterpart, id)`.
pub const ACCESS_BY_COUNTERPART: &str = concat!(
    access_columns!(),
    "WHERE (counterpart, id) > ($1, $2) AND counterpart <= $1
       AND ($3::text IS NULL OR action = $3)
       AND ($4::timestamptz IS NULL OR occurred_at >= $4)
       AND ($5::timestamptz IS NULL OR occurred_at < $5)
     ORDER BY counterpart, id LIMIT $6"
);

/// Reads of action `$1` after id `$2`; from `$3` and to `$4` if not null; `$5` rows. Index
/// `(action, id)`.
pub const ACCESS_BY_ACTION: &str = concat!(
    access_columns!(),
    "WHERE (action, id) > ($1, $2) AND action <= $1
       AND ($3::timestamptz IS NULL OR occurred_at >= $3)
       AND ($4::timestamptz IS NULL OR occurred_at < $4)
     ORDER BY action, id LIMIT $5"
);

/// Reads after (`$1` time, `$2` id) and before `$3`, in time order; `$4` rows. Index
/// `(occurred_at, id)`.
pub const ACCESS_BY_TIME: &str = concat!(
    access_columns!(),
    "WHERE (occurred_at, id) > ($1, $2) AND occurred_at < $3
     ORDER BY occurred_at, id LIMIT $4"
);

/// Every read after id `$1`; `$2` rows. The primary key.
pub const ACCESS_ALL: &str = concat!(access_columns!(), "WHERE id > $1 ORDER BY id LIMIT $2");

/// Every audit statement, by name.
pub const ALL: &[(&str, &str)] = &[
    ("log_by_message", LOG_BY_MESSAGE),
    ("log_by_actor", LOG_BY_ACTOR),
    ("log_by_action", LOG_BY_ACTION),
    ("log_by_time", LOG_BY_TIME),
    ("log_all", LOG_ALL),
    ("access_by_message", ACCESS_BY_MESSAGE),
    ("access_by_actor", ACCESS_BY_ACTOR),
    ("access_by_counterpart", ACCESS_BY_COUNTERPART),
    ("access_by_action", ACCESS_BY_ACTION),
    ("access_by_time", ACCESS_BY_TIME),
    ("access_all", ACCESS_ALL),
];
