-- Account control (issue 10): an administrator can disable an account, which ends its sessions at
-- once and refuses its logins; sessions also end after a spell without requests.
--   users.disabled_at      set while the account is disabled (NULL: active);
--   sessions.last_seen_at  when the session last served a request, refreshed at most once a
--                          minute, so the idle timeout costs no write per request.
ALTER TABLE users ADD COLUMN disabled_at timestamptz;
ALTER TABLE sessions ADD COLUMN last_seen_at timestamptz NOT NULL DEFAULT now();
-- Purging ended sessions scans by revocation time too.
CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
