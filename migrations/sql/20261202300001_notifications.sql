-- Live notifications (issue 13): the feed behind `GET /api/notifications/stream`.
--
-- `notifications` belongs to the `mailbox` projection: its fold writes the rows in the same
-- transaction as the inbox, the unread counters and the checkpoint, so a notification exists
-- exactly when the tables a client reads show its change. One row per event and user it concerns,
-- keyed by the event's commit-order position (the SSE `id`), never a subject or content:
--   message  the recipient of a send; counterpart = sender, at = sent_at, total_unread after it
--   read     the sender of a message that was read; counterpart = reader, at = read_at
--   unread   a user whose unread total changed otherwise (read, delete, restore); total_unread
--
-- The feed is kept for `notification_feed.retention` (7 days; at least 24 hours): the projector
-- deletes older rows, and a replay writes none for events older than that. It begins after
-- `notification_feed.starts_after`, the mailbox checkpoint when this migration ran: earlier
-- events have no notifications, live or replayed, so `projector verify` compares like with like.
CREATE TABLE notification_feed (
    singleton      boolean  PRIMARY KEY DEFAULT true CHECK (singleton),
    starts_after_transaction_id xid8   NOT NULL,
    starts_after_position       bigint NOT NULL,
    retention      interval NOT NULL DEFAULT interval '7 days'
                   CHECK (retention >= interval '24 hours')
);
INSERT INTO notification_feed (starts_after_transaction_id, starts_after_position)
SELECT coalesce((SELECT transaction_id FROM projection_checkpoints WHERE projection = 'mailbox'),
                '0'::xid8),
       coalesce((SELECT global_position FROM projection_checkpoints WHERE projection = 'mailbox'),
                0);

-- The table's DDL, for the live schema (below) and for the scratch copies of rebuild and verify.
CREATE FUNCTION create_notifications_table(target_schema text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format($ddl$
        CREATE TABLE %1$I.notifications (
            recipient       text        NOT NULL,
            transaction_id  xid8        NOT NULL,
            global_position bigint      NOT NULL,
            kind            text        NOT NULL CHECK (kind IN ('message', 'read', 'unread')),
            message_id      uuid,
            counterpart     text,
            at              timestamptz,
            total_unread    integer,
            occurred_at     timestamptz NOT NULL,
            PRIMARY KEY (recipient, transaction_id, global_position)
        );
        -- What a batch added, for the fan-out of every process (one range read per batch).
        CREATE INDEX notifications_position_idx
            ON %1$I.notifications (transaction_id, global_position);
    $ddl$, target_schema);
END
$fn$;

ALTER FUNCTION create_read_model(text, text) RENAME TO create_read_model_v2;

CREATE FUNCTION create_read_model(projection text, target_schema text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM create_read_model_v2(projection, target_schema);
    IF projection = 'mailbox' THEN
        PERFORM create_notifications_table(target_schema);
    END IF;
END
$fn$;

-- The mailbox's other tables exist already.
SELECT create_notifications_table('public');
