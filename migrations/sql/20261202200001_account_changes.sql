-- Account changes are announced on the channel `hs_accounts` (issue 12). Every process keeps
-- sessions, users and approvals in memory and drops what a change touches when its notification
-- arrives. Triggers send them, not the application, so every writer is covered: the services,
-- hs-admin, an operator's psql. NOTIFY is transactional: a change is announced when it commits,
-- never when it rolls back. Payloads (usernames are `[a-z0-9_.-]`, so a space separates):
--   session <token_hash as hex>
--   user <username>
--   approval <clinician> <patient>

CREATE FUNCTION hs_announce_session() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('hs_accounts', 'session ' || encode(OLD.token_hash, 'hex'));
    RETURN NULL;
END $$;

-- The once-a-minute refresh of `last_seen_at` (it only moves forward) changes nothing a cache
-- relies on, and is by far the most frequent update: it announces nothing. Every other change
-- does (revocation, a new expiry, an earlier last use, another owner or CSRF token).
CREATE TRIGGER sessions_announce_update AFTER UPDATE ON sessions FOR EACH ROW
    WHEN (NEW.revoked_at IS DISTINCT FROM OLD.revoked_at
          OR NEW.expires_at IS DISTINCT FROM OLD.expires_at
          OR NEW.last_seen_at < OLD.last_seen_at
          OR NEW.username IS DISTINCT FROM OLD.username
          OR NEW.csrf_token IS DISTINCT FROM OLD.csrf_token
          OR NEW.token_hash IS DISTINCT FROM OLD.token_hash)
    EXECUTE FUNCTION hs_announce_session();

-- Deleting a live session ends it. The hourly purge deletes only ended ones (nothing to
-- announce); a session unused for a day cannot be in any cache (entries live at most a minute
-- past the last use).
CREATE TRIGGER sessions_announce_delete AFTER DELETE ON sessions FOR EACH ROW
    WHEN (OLD.revoked_at IS NULL AND OLD.expires_at > now()
          AND OLD.last_seen_at > now() - interval '1 day')
    EXECUTE FUNCTION hs_announce_session();

-- Any change of a user: created (a cached "no such user" must go), disabled or enabled, another
-- role or display name, deleted. Rare, so every row change is announced.
CREATE FUNCTION hs_announce_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM pg_notify('hs_accounts', 'user ' || OLD.username);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM pg_notify('hs_accounts', 'user ' || NEW.username);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER users_announce AFTER INSERT OR UPDATE OR DELETE ON users FOR EACH ROW
    EXECUTE FUNCTION hs_announce_user();

-- Any change of an approval (granted, revoked, deleted).
CREATE FUNCTION hs_announce_approval() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM pg_notify('hs_accounts', 'approval ' || OLD.clinician || ' ' || OLD.patient);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM pg_notify('hs_accounts', 'approval ' || NEW.clinician || ' ' || NEW.patient);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER patient_approvals_announce AFTER INSERT OR UPDATE OR DELETE ON patient_approvals
    FOR EACH ROW EXECUTE FUNCTION hs_announce_approval();
