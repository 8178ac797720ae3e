-- Archived conversations and the inbox's filters (issue 15): two changes to the `mailbox`
-- projection, folded in commit order with the messages (`projections/src/read_models/archive.rs`):
--   archived_conversations  per owner and counterpart, since when the owner has kept the
--                           conversation out of their inbox: an archive request writes it, an
--                           unarchive request or a new message from the counterpart removes it;
--   conversations.archived  whether the conversation is archived now (set at the end of each
--                           batch for every conversation the batch touched), so that
--                           `GET /api/messages/inbox?archived=&unread_only=` walks an index with
--                           its keyset unchanged.
-- The inbox index now leads with `archived`; the unread filter has its own partial index.

CREATE FUNCTION create_archive_tables(target_schema text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format($ddl$
        CREATE TABLE %1$I.archived_conversations (
            owner       text        NOT NULL,
            counterpart text        NOT NULL,
            archived_at timestamptz NOT NULL,
            PRIMARY KEY (owner, counterpart)
        );
        ALTER TABLE %1$I.conversations ADD COLUMN archived boolean NOT NULL DEFAULT false;
        DROP INDEX %1$I.conversations_activity_idx;
        CREATE INDEX conversations_inbox_idx
            ON %1$I.conversations (owner, archived, last_activity_at, counterpart);
        CREATE INDEX conversations_unread_idx
            ON %1$I.conversations (owner, archived, last_activity_at, counterpart)
            WHERE unread_count > 0;
    $ddl$, target_schema);
END
$fn$;

ALTER FUNCTION create_read_model(text, text) RENAME TO create_read_model_v7;

CREATE FUNCTION create_read_model(projection text, target_schema text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM create_read_model_v7(projection, target_schema);
    IF projection = 'mailbox' THEN
        PERFORM create_archive_tables(target_schema);
    END IF;
END
$fn$;

SELECT create_archive_tables('public');
