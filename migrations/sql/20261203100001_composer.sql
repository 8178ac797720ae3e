-- The clinician tools' read models (issue 14): the `composer` projection, folded from the
-- `template_book` and `scheduled_message` streams (`projections/src/read_models/composer.rs`):
--   templates           a clinician's live templates (a deleted one leaves no row);
--   scheduled_messages  every scheduled message of an author with its status; the scheduler
--                       finds the due ones through the partial index of the pending ones.
-- The log holds no event of these streams before this migration (the code that writes them
-- comes with it), so the projection starts where the mailbox projection stands.

CREATE FUNCTION create_composer_tables(target_schema text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format($ddl$
        CREATE TABLE %1$I.templates (
            template_id uuid        PRIMARY KEY,
            owner       text        NOT NULL,
            title       text        NOT NULL,
            subject     text,
            content     text        NOT NULL,
            updated_at  timestamptz NOT NULL
        );
        CREATE INDEX templates_owner_idx ON %1$I.templates (owner);
        CREATE TABLE %1$I.scheduled_messages (
            scheduled_id uuid        PRIMARY KEY,
            author       text        NOT NULL,
            recipient    text        NOT NULL,
            subject      text,
            content      text        NOT NULL,
            send_at      timestamptz NOT NULL,
            status       text        NOT NULL
                CHECK (status IN ('pending', 'sent', 'cancelled', 'failed')),
            message_id   uuid,
            failure      text,
            updated_at   timestamptz NOT NULL
        );
        -- An author's list, `send_at` ascending, keyset-paged.
        CREATE INDEX scheduled_messages_author_idx
            ON %1$I.scheduled_messages (author, send_at, scheduled_id);
        -- The scheduler's due messages.
        CREATE INDEX scheduled_messages_due_idx
            ON %1$I.scheduled_messages (send_at, scheduled_id) WHERE status = 'pending';
    $ddl$, target_schema);
END
$fn$;

ALTER FUNCTION create_read_model(text, text) RENAME TO create_read_model_v6;

CREATE FUNCTION create_read_model(projection text, target_schema text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    IF projection = 'composer' THEN
        PERFORM create_composer_tables(target_schema);
    ELSE
        PERFORM create_read_model_v6(projection, target_schema);
    END IF;
END
$fn$;

SELECT create_composer_tables('public');

INSERT INTO projection_checkpoints (projection, transaction_id, global_position)
SELECT 'composer', transaction_id, global_position
FROM projection_checkpoints WHERE projection = 'mailbox';
