-- Message text encrypted at rest, and erasure (issue 17).
--
-- The key hierarchy (vault/, docs/privacy.md): each message's subject and content are sealed in
-- the log with a data key of its own; `data_keys` keeps that key wrapped by a key-encryption key
-- (KEK) from `HS_KEK_FILE`, never in the event. Erasing a message destroys its wrapped key
-- (`wrapped` and `kek_id` become NULL, `destroyed_at` is set) in the statement that appends
-- `MessageErased`; the event rows are never touched.
--   key_encryption_keys  each KEK id ever used, with a check value (a known text encrypted
--                        with it), so that a process started with a wrong key under a known id
--                        fails at start-up instead of at its first read;
--   data_keys            one row per message (scheduled messages use the key of the message they
--                        become; a broadcast's shared subject has its own).
CREATE TABLE key_encryption_keys (
    kek_id      text        PRIMARY KEY,
    check_value bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- `kek_id` names a row of key_encryption_keys, but without a foreign key: every send inserts a
-- data key, and the check of a foreign key takes a share lock on the one active KEK's row in
-- every sending transaction at once. The append statement registers the KEK it wraps with
-- (`vault::store::append_ctes`), and the start-up check reads every registered one.
CREATE TABLE data_keys (
    key_id       uuid        PRIMARY KEY,
    kek_id       text,
    wrapped      bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    destroyed_at timestamptz,
    CHECK ((wrapped IS NULL) = (destroyed_at IS NOT NULL)),
    CHECK ((wrapped IS NULL) = (kek_id IS NULL))
);
-- `hs-admin keys rotate` walks the live keys of other KEKs; the start-up check asks whether a KEK
-- wraps any key.
CREATE INDEX data_keys_kek_idx ON data_keys (kek_id, key_id) WHERE wrapped IS NOT NULL;

-- The read models show erasure and holds: `messages.erased_at` and `messages.held` (the admin's
-- view, retention's candidates), `mailbox.erased_at` (every list of the participants). An erased
-- message's subject and content are blanked in the same batch that records `erased_at`.
CREATE FUNCTION create_erasure_columns(projection text, target_schema text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    IF projection = 'messages' THEN
        EXECUTE format($ddl$
            ALTER TABLE %1$I.messages ADD COLUMN erased_at TIMESTAMP NULL;
            ALTER TABLE %1$I.messages ADD COLUMN held BOOLEAN NOT NULL DEFAULT FALSE;
        $ddl$, target_schema);
    ELSIF projection = 'mailbox' THEN
        EXECUTE format($ddl$
            ALTER TABLE %1$I.mailbox ADD COLUMN erased_at timestamptz;
        $ddl$, target_schema);
    ELSIF projection = 'composer' THEN
        -- An erased message's scheduled copy is found by the message it became.
        EXECUTE format($ddl$
            CREATE INDEX scheduled_messages_message_idx ON %1$I.scheduled_messages (message_id)
                WHERE message_id IS NOT NULL;
        $ddl$, target_schema);
    END IF;
END
$fn$;

ALTER FUNCTION create_read_model(text, text) RENAME TO create_read_model_v8;

CREATE FUNCTION create_read_model(projection text, target_schema text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM create_read_model_v8(projection, target_schema);
    PERFORM create_erasure_columns(projection, target_schema);
END
$fn$;

SELECT create_erasure_columns('messages', 'public');
SELECT create_erasure_columns('mailbox', 'public');
SELECT create_erasure_columns('composer', 'public');
