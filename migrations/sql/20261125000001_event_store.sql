-- The event log: the only truth of the system. Columns 1-7 and the primary key are exactly what
-- postgres-es 0.5 reads and writes (it names its columns in every statement); the extra columns
-- are filled by defaults and serve gap-free catch-up by the projectors:
--   global_position  a total order of appends (identity, assigned at insert time);
--   transaction_id   the writing transaction (xid8), so a reader can wait for slow committers:
--                    everything below pg_snapshot_xmin(pg_current_snapshot()) is final, and
--                    reading in (transaction_id, global_position) order never skips an event
--                    whose transaction commits after a later-started one.
-- There is deliberately no pg_notify trigger: a NOTIFY inside every append takes a global lock at
-- commit (about 40% fewer appends per second measured here); wake-ups are sent after commit.
CREATE TABLE events (
    aggregate_type  text        NOT NULL,
    aggregate_id    text        NOT NULL,
    sequence        bigint      NOT NULL CHECK (sequence >= 0),
    event_type      text        NOT NULL,
    event_version   text        NOT NULL,
    payload         jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    global_position bigint      GENERATED ALWAYS AS IDENTITY,
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    event_id        uuid        NOT NULL DEFAULT gen_random_uuid(),
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE UNIQUE INDEX events_global_position_key ON events (global_position);
CREATE UNIQUE INDEX events_event_id_key ON events (event_id);
-- The projectors' catch-up order.
CREATE INDEX events_commit_order_idx ON events (transaction_id, global_position);

-- postgres-es snapshots (used when an aggregate store with snapshots is configured).
CREATE TABLE snapshots (
    aggregate_type   text   NOT NULL,
    aggregate_id     text   NOT NULL,
    last_sequence    bigint NOT NULL CHECK (last_sequence >= 0),
    current_snapshot bigint NOT NULL CHECK (current_snapshot >= 0),
    payload          jsonb  NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);

-- Where each projection has got to in the log, written in the same transaction as its
-- read-table changes. (transaction_id, global_position) of the last applied event.
CREATE TABLE projection_checkpoints (
    projection      text        PRIMARY KEY,
    transaction_id  xid8        NOT NULL DEFAULT '0',
    global_position bigint      NOT NULL DEFAULT 0,
    events_applied  bigint      NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
