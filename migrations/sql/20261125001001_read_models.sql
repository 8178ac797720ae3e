-- The read models: tables that projectors fold from the event log and the query API reads.
-- Nothing here is truth: every table can be dropped and rebuilt by replaying `events` from 0.
--
-- Each projection's DDL lives in one function, `create_read_model(projection, target_schema)`,
-- called below for `public`. `projector rebuild` and `projector verify` call the same function
-- for a scratch schema, so the copies they build have exactly the live columns, constraints and
-- index names (index names are per schema), and a swap is a pair of `ALTER TABLE .. SET SCHEMA`.
-- A later migration that changes a read table must `CREATE OR REPLACE` this function too.
--
-- Projections and their tables (one checkpoint row per projection):
--   messages  messages                                  the original system's table (spec,
--                                                       "Fixed Schema (COMPLETE)", id as UUID)
--   mailbox   mailbox, conversations, unread_counters   one row per message per participant,
--                                                       summaries per (owner, counterpart) and
--                                                       unread counters per user, kept together
--                                                       so they are always consistent

-- The search index pairs the owner (btree semantics) with the tsvector (GIN) in one index.
CREATE EXTENSION IF NOT EXISTS btree_gin;

CREATE FUNCTION create_read_model(projection text, target_schema text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    IF projection = 'messages' THEN
        -- Exactly the spec's table and indexes (id and parent as UUID, the log's message ids).
        -- Times are UTC. created_at = sent_at and updated_at = the time the last event carries,
        -- never now(): a rebuild must yield identical rows.
        EXECUTE format($ddl$
            CREATE TABLE %1$I.messages (
                id UUID PRIMARY KEY,
                sender_username VARCHAR(255) NOT NULL REFERENCES users(username),
                recipient_username VARCHAR(255) NOT NULL REFERENCES users(username),
                subject VARCHAR(255),
                content TEXT NOT NULL,
                parent_message_id UUID REFERENCES %1$I.messages(id),
                is_read BOOLEAN DEFAULT FALSE,
                read_at TIMESTAMP NULL,
                sent_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
                is_deleted_by_sender BOOLEAN DEFAULT FALSE,
                is_deleted_by_recipient BOOLEAN DEFAULT FALSE,
                deleted_at TIMESTAMP NULL,
                created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
                updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
            );
            CREATE INDEX idx_messages_sender ON %1$I.messages(sender_username);
            CREATE INDEX idx_messages_recipient ON %1$I.messages(recipient_username);
            CREATE INDEX idx_messages_sent_at ON %1$I.messages(sent_at DESC);
            CREATE INDEX idx_messages_parent ON %1$I.messages(parent_message_id);
            CREATE INDEX idx_messages_not_deleted ON %1$I.messages(deleted_at)
                WHERE deleted_at IS NULL;
            -- Not in the spec: the admin's list of hidden messages, newest first, keyset-paged.
            CREATE INDEX messages_hidden_idx ON %1$I.messages(deleted_at, id)
                WHERE deleted_at IS NOT NULL;
        $ddl$, target_schema);
    ELSIF projection = 'mailbox' THEN
        EXECUTE format($ddl$
            -- One row per message per participant. `read_at` is the recipient's read time, on
            -- both rows (the sender's sent list shows it); `deleted` is the owner's own delete
            -- (a hidden message is deleted on both rows). `search` weighs subject above content.
            CREATE TABLE %1$I.mailbox (
                owner             text        NOT NULL,
                message_id        uuid        NOT NULL,
                counterpart       text        NOT NULL,
                direction         text        NOT NULL CHECK (direction IN ('sent', 'received')),
                subject           text,
                content           text        NOT NULL,
                parent_message_id uuid,
                sent_at           timestamptz NOT NULL,
                read_at           timestamptz,
                deleted           boolean     NOT NULL DEFAULT false,
                search            tsvector    NOT NULL,
                PRIMARY KEY (owner, message_id)
            );
            -- A thread, newest first (scanned backwards for keyset pages).
            CREATE INDEX mailbox_conversation_idx
                ON %1$I.mailbox (owner, counterpart, sent_at, message_id) WHERE NOT deleted;
            -- The sent list.
            CREATE INDEX mailbox_sent_idx
                ON %1$I.mailbox (owner, sent_at, message_id)
                WHERE direction = 'sent' AND NOT deleted;
            -- Full-text search within one owner's visible rows (btree_gin for `owner`).
            CREATE INDEX mailbox_search_idx
                ON %1$I.mailbox USING gin (owner, search) WHERE NOT deleted;

            -- One row per (owner, counterpart) with at least one message visible to the owner:
            -- the newest visible message and how many received ones are unread and visible.
            CREATE TABLE %1$I.conversations (
                owner            text        NOT NULL,
                counterpart      text        NOT NULL,
                last_message_id  uuid        NOT NULL,
                last_activity_at timestamptz NOT NULL,
                unread_count     integer     NOT NULL DEFAULT 0 CHECK (unread_count >= 0),
                PRIMARY KEY (owner, counterpart)
            );
            CREATE INDEX conversations_activity_idx
                ON %1$I.conversations (owner, last_activity_at, counterpart);

            -- Unread, visible, received messages per user (the badge and `total_unread`).
            CREATE TABLE %1$I.unread_counters (
                owner  text    PRIMARY KEY,
                unread integer NOT NULL CHECK (unread >= 0)
            );
        $ddl$, target_schema);
    ELSE
        RAISE EXCEPTION 'unknown projection %', projection;
    END IF;
END
$fn$;

SELECT create_read_model('messages', 'public');
SELECT create_read_model('mailbox', 'public');

INSERT INTO projection_checkpoints (projection) VALUES ('messages'), ('mailbox')
ON CONFLICT (projection) DO NOTHING;
