-- The access log becomes tamper-evident (issue 15): a hash chain like the audit log's, and the
-- users whose messages each read disclosed to someone who is not their counterpart
-- (`GET /api/me/access-log`, the accounting of disclosures).
--
--   subjects    the participants of the messages read, other than the reader, when the reader
--               is not a participant of them (an admin's list of hidden messages, an auditor's
--               view of the audit log); empty for a participant's own reads.
--   chain_seq   the row's place in the chain: 1, 2, 3... with no gap, assigned under a lock.
--   prev_hash   the previous row's hash (32 zero bytes for the first).
--   hash        sha256(prev_hash || access_log_canonical(row)).
--
-- Every writer extends the chain under one transaction-level advisory lock, so every gateway
-- or query service appends to one chain, in the order of `chain_seq` (not of `id`: an id is
-- drawn before the lock). The services' writer (audit/src/access.rs) reads the head once per
-- batch and computes the hashes itself; a row inserted by SQL alone (without a hash) is
-- chained by the BEFORE INSERT trigger below, under the same lock. `audit verify` recomputes
-- the chain (audit/src/access_chain.rs). Existing rows are chained here in `id` order.

ALTER TABLE access_log ADD COLUMN subjects text[] NOT NULL DEFAULT '{}';
ALTER TABLE access_log ADD COLUMN chain_seq bigint;
ALTER TABLE access_log ADD COLUMN prev_hash bytea;
ALTER TABLE access_log ADD COLUMN hash bytea;

-- One text per row, every column in a fixed order, each nullable one marked (`-` for NULL,
-- `+` before a value), fields separated by U+001F (refused in every text the API takes).
CREATE FUNCTION access_log_canonical(r access_log) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT concat_ws(chr(31),
        r.chain_seq::text,
        to_char(r.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        r.actor, r.role, r.action,
        CASE WHEN r.counterpart IS NULL THEN '-' ELSE '+' || r.counterpart END,
        array_to_string(r.message_ids, ','),
        CASE WHEN r.query_length IS NULL THEN '-' ELSE '+' || r.query_length::text END,
        r.result_count::text,
        CASE WHEN r.request_id IS NULL THEN '-' ELSE '+' || r.request_id END,
        CASE WHEN r.client_ip IS NULL THEN '-' ELSE '+' || r.client_ip END,
        CASE WHEN r.user_agent IS NULL THEN '-' ELSE '+' || r.user_agent END,
        array_to_string(r.subjects, ','))
$fn$;

-- Existing rows, in id order (the append-only trigger is lifted for this once).
ALTER TABLE access_log DISABLE TRIGGER access_log_append_only;
DO $chain$
DECLARE
    r access_log;
    previous bytea := '\x0000000000000000000000000000000000000000000000000000000000000000';
    n bigint := 0;
BEGIN
    FOR r IN SELECT * FROM access_log ORDER BY id LOOP
        n := n + 1;
        r.chain_seq := n;
        r.prev_hash := previous;
        r.hash := sha256(previous || convert_to(access_log_canonical(r), 'UTF8'));
        UPDATE access_log SET chain_seq = r.chain_seq, prev_hash = r.prev_hash, hash = r.hash
        WHERE id = r.id;
        previous := r.hash;
    END LOOP;
END
$chain$;
ALTER TABLE access_log ENABLE TRIGGER access_log_append_only;

ALTER TABLE access_log ALTER COLUMN chain_seq SET NOT NULL;
ALTER TABLE access_log ALTER COLUMN prev_hash SET NOT NULL;
ALTER TABLE access_log ALTER COLUMN hash SET NOT NULL;
CREATE UNIQUE INDEX access_log_chain_idx ON access_log (chain_seq);
-- A patient's disclosures, newest first.
CREATE INDEX access_log_subjects_idx ON access_log USING gin (subjects);

CREATE FUNCTION access_log_link() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    last_seq bigint;
    last_hash bytea;
BEGIN
    -- Chained by its writer already (the services compute the hashes, under the lock).
    IF NEW.hash IS NOT NULL THEN
        RETURN NEW;
    END IF;
    -- One chain: appends wait for each other until their transaction ends.
    PERFORM pg_advisory_xact_lock(x'48530020'::int, 0);
    SELECT chain_seq, hash INTO last_seq, last_hash
    FROM access_log ORDER BY chain_seq DESC LIMIT 1;
    NEW.chain_seq := coalesce(last_seq, 0) + 1;
    NEW.prev_hash := coalesce(last_hash,
        '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
    NEW.occurred_at := date_trunc('microseconds', NEW.occurred_at);
    NEW.hash := sha256(NEW.prev_hash || convert_to(access_log_canonical(NEW), 'UTF8'));
    RETURN NEW;
END
$fn$;

CREATE TRIGGER access_log_chain BEFORE INSERT ON access_log
    FOR EACH ROW EXECUTE FUNCTION access_log_link();
