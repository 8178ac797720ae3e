-- The compose form's recipient search (`GET /api/messages/search-recipients`, issue 14): users
-- whose username or display name contains what was typed, among those the caller may write to.
--
-- A clinician may start a message to any clinician and to their approved patients. Clinicians
-- are a tenth of the users, so their names get an index of their own: trigrams (pg_trgm) of the
-- username and the display name, lower-cased and joined by chr(1), which no search text holds,
-- so that `LIKE '%text%'` never matches across the two. Texts of one or two characters have no
-- trigram; they walk the clinicians in username order (the partial btree below) and stop at the
-- 20th match. A clinician's patients and a patient's candidates (their approved clinicians and
-- the users they already talk to) are few and found through `patient_approvals` and
-- `conversations`, never by scanning `users`.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX users_clinician_names_trgm_idx ON users
    USING gin ((lower(username) || chr(1) || lower(display_name)) gin_trgm_ops)
    WHERE role = 'clinician';

CREATE INDEX users_clinician_username_idx ON users (username) WHERE role = 'clinician';
