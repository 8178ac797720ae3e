-- The audit trail (HIPAA §164.312(b); ONC §170.315(d)(2)): who did what to which message, when
-- and from where, and never a subject or content.
--
-- `audit_log` is a read model like the others: one entry per event, in commit order, rebuilt by
-- replay (`projector rebuild audit_log`). `seq` numbers the entries 1, 2, ... and `hash` chains
-- them: hash(n) = SHA-256(hash(n-1) || canonical event n), hash(0) = 32 zero bytes, so a changed,
-- deleted or inserted event or entry shows at its position (`audit verify`).
--
-- The read-model DDL function gains the `audit_log` branch; the earlier branches are kept by
-- delegating to the previous version of the function.
ALTER FUNCTION create_read_model(text, text) RENAME TO create_read_model_v1;

CREATE FUNCTION create_read_model(projection text, target_schema text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    IF projection = 'audit_log' THEN
        EXECUTE format($ddl$
            CREATE TABLE %1$I.audit_log (
                seq            bigint      PRIMARY KEY,
                position       bigint      NOT NULL UNIQUE,
                transaction_id bigint      NOT NULL,
                event_id       uuid        NOT NULL,
                occurred_at    timestamptz NOT NULL,
                actor          text,
                action         text        NOT NULL,
                message_id     uuid,
                counterpart    text,
                participants   text[]      NOT NULL,
                request_id     text,
                client_ip      text,
                user_agent     text,
                details        jsonb       NOT NULL,
                prev_hash      bytea       NOT NULL,
                hash           bytea       NOT NULL
            );
            CREATE INDEX audit_log_actor_idx ON %1$I.audit_log (actor, seq);
            CREATE INDEX audit_log_message_idx ON %1$I.audit_log (message_id, seq);
            CREATE INDEX audit_log_action_idx ON %1$I.audit_log (action, seq);
            CREATE INDEX audit_log_time_idx ON %1$I.audit_log (occurred_at, seq);
            CREATE INDEX audit_log_participants_idx ON %1$I.audit_log USING gin (participants);
        $ddl$, target_schema);
    ELSE
        PERFORM create_read_model_v1(projection, target_schema);
    END IF;
END
$fn$;

SELECT create_read_model('audit_log', 'public');

INSERT INTO projection_checkpoints (projection) VALUES ('audit_log')
ON CONFLICT (projection) DO NOTHING;

-- The access log: reads (who looked at which messages). Not derived from the event log — it is
-- its own record, written by the query side in batches. Searches keep the query's length only.
CREATE TABLE access_log (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at  timestamptz NOT NULL,
    actor        text        NOT NULL,
    role         text        NOT NULL,
    action       text        NOT NULL,
    counterpart  text,
    message_ids  uuid[]      NOT NULL DEFAULT '{}',
    query_length integer,
    result_count integer     NOT NULL,
    request_id   text,
    client_ip    text,
    user_agent   text
);
CREATE INDEX access_log_actor_idx ON access_log (actor, id);
CREATE INDEX access_log_action_idx ON access_log (action, id);
CREATE INDEX access_log_counterpart_idx ON access_log (counterpart, id);
CREATE INDEX access_log_time_idx ON access_log (occurred_at, id);
CREATE INDEX access_log_messages_idx ON access_log USING gin (message_ids);

-- The log is append-only: no role but the table owner's maintenance may change history.
CREATE FUNCTION forbid_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION '% on % is not allowed: the log is append-only', TG_OP, TG_TABLE_NAME;
END
$fn$;
CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

-- The same for the event log itself: postgres-es only ever inserts events. Changing history
-- now needs the owner to disable these triggers first, and `audit verify` still finds it.
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
