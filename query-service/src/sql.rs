//! Every statement the query API runs, in one place so that tests can `EXPLAIN` each of them.
//! Each filters by the caller (`$1`) in SQL and pages by keyset: the first page passes a
//! position after everything (`FIRST_PAGE_AT`, `Uuid::max()`), so one plan serves every page.
//! The auditors' statements, which read everyone's trail, are in [`audit`].

pub mod audit;

/// Conversations of `$1`, archived (`$5` true) or not, newest activity first, after (`$2` time,
/// `$3` counterpart); `$4` rows.
pub const INBOX: &str = "
SELECT c.counterpart, u.role, u.display_name, c.unread_count, c.last_activity_at,
       m.message_id, m.direction, m.subject, left(m.content, 100), m.sent_at, m.erased_at
FROM conversations c
JOIN mailbox m ON m.owner = c.owner AND m.message_id = c.last_message_id
LEFT JOIN users u ON u.username = c.counterpart
WHERE c.owner = $1 AND c.archived = $5 AND (c.last_activity_at, c.counterpart) < ($2, $3)
ORDER BY c.last_activity_at DESC, c.counterpart DESC
LIMIT $4";

/// [`INBOX`] with unread messages only (its own partial index).
pub const INBOX_UNREAD: &str = "
SELECT c.counterpart, u.role, u.display_name, c.unread_count, c.last_activity_at,
       m.message_id, m.direction, m.subject, left(m.content, 100), m.sent_at, m.erased_at
FROM conversations c
JOIN mailbox m ON m.owner = c.owner AND m.message_id = c.last_message_id
LEFT JOIN users u ON u.username = c.counterpart
WHERE c.owner = $1 AND c.archived = $5 AND c.unread_count > 0
  AND (c.last_activity_at, c.counterpart) < ($2, $3)
ORDER BY c.last_activity_at DESC, c.counterpart DESC
LIMIT $4";

/// Unread, visible, received messages of `$1` (kept by the projector).
pub const UNREAD: &str = "
SELECT coalesce((SELECT unread FROM unread_counters WHERE owner = $1), 0)";

/// Visible messages `$1` sent, newest first, after (`$2` time, `$3` id); `$4` rows.
pub const SENT: &str = "
SELECT message_id, counterpart, subject, content, parent_message_id, sent_at, read_at,
       erased_at
FROM mailbox
WHERE owner = $1 AND direction = 'sent' AND NOT deleted
  AND (sent_at, message_id) < ($2, $3)
ORDER BY sent_at DESC, message_id DESC
LIMIT $4";

/// The user a conversation is with (`$1`).
pub const USER: &str = "SELECT username FROM users WHERE username = $1";

/// Visible messages between `$1` and `$2`, newest first, after (`$3`, `$4`); `$5` rows.
pub const CONVERSATION: &str = "
SELECT message_id, direction, subject, content, parent_message_id, sent_at, read_at,
       erased_at
FROM mailbox
WHERE owner = $1 AND counterpart = $2 AND NOT deleted
  AND (sent_at, message_id) < ($3, $4)
ORDER BY sent_at DESC, message_id DESC
LIMIT $5";

/// Visible messages of `$1` matching every word of `$2` as a prefix (stemmed by the `english`
/// configuration; the query is built from the lexemes, never by parsing user text), best rank
/// then newest first, after (`$3` rank, `$4` time, `$5` id); `$6` rows. The match runs on the
/// index of owner-prefixed lexemes (`mailbox_owned_terms`, migration 20261202400001), whose
/// terms `'<owner>/<lexeme>':*` reach only the caller's rows (a username has no `/`), so no
/// `owner = $1` is needed; the ranking and the snippets use the row's own `search`. Snippets
/// are made for the page only, with the highlights marked by control characters 1 and 2
/// (removed from the text first) for the handler to turn into `<mark>` after HTML-escaping.
pub const SEARCH: &str = r"
WITH words AS (
    SELECT replace(replace(lexeme, '\', '\\'), '''', '''''') AS word
    FROM unnest(to_tsvector('english', $2::text))
),
q AS (
    SELECT string_agg('''' || word || ''':*', ' & ')::tsquery AS query,
           string_agg('''' || $1::text || '/' || word || ''':*', ' & ')::tsquery AS owned
    FROM words
),
page AS (
    SELECT m.message_id, m.direction, m.counterpart, m.subject, m.content, m.sent_at,
           ts_rank(m.search, q.query) AS rank
    FROM q JOIN mailbox m ON mailbox_owned_terms(m.owner, m.search) @@ q.owned
    WHERE NOT m.deleted
      AND (ts_rank(m.search, q.query), m.sent_at, m.message_id) < ($3::real, $4, $5)
    ORDER BY rank DESC, m.sent_at DESC, m.message_id DESC
    LIMIT $6
)
SELECT page.message_id, page.direction, page.counterpart, page.subject, page.sent_at,
       page.rank,
       ts_headline('english', translate(page.content, chr(1) || chr(2), ''), q.query,
                   'StartSel=' || chr(1) || ', StopSel=' || chr(2)
                   || ', MaxWords=30, MinWords=12, MaxFragments=2')
FROM page, q
ORDER BY page.rank DESC, page.sent_at DESC, page.message_id DESC";

/// Approved patients of clinician `$1` with their unread count and last message time.
pub const PATIENTS: &str = "
SELECT a.patient,
       coalesce((SELECT u.display_name FROM users u WHERE u.username = a.patient), a.patient),
       coalesce(c.unread_count, 0), c.last_activity_at
FROM patient_approvals a
LEFT JOIN conversations c ON c.owner = a.clinician AND c.counterpart = a.patient
WHERE a.clinician = $1 AND a.status = 'approved'
ORDER BY a.patient";

/// Approved patients of clinician `$1` for the triage: unread messages from each, since when
/// they wait for an answer, the last visible activity, and the median minutes of the
/// clinician's answers over the last 90 days; the longest-waiting first, then the most recent
/// activity, then by username.
pub const TRIAGE: &str = "
SELECT a.patient,
       coalesce((SELECT u.display_name FROM users u WHERE u.username = a.patient), a.patient),
       coalesce(c.unread_count, 0), w.waiting_since, c.last_activity_at,
       (SELECT percentile_cont(0.5) WITHIN GROUP (
                   ORDER BY extract(epoch FROM r.replied_at - r.waited_since)::float8 / 60)
        FROM triage_replies r
        WHERE r.clinician = a.clinician AND r.patient = a.patient
          AND r.replied_at >= now() - interval '90 days')
FROM patient_approvals a
LEFT JOIN conversations c ON c.owner = a.clinician AND c.counterpart = a.patient
LEFT JOIN triage_waits w ON w.clinician = a.clinician AND w.patient = a.patient
WHERE a.clinician = $1 AND a.status = 'approved'
ORDER BY w.waiting_since ASC NULLS LAST, c.last_activity_at DESC NULLS LAST, a.patient";

/// Users a clinician (`$1`) may start a message to whose username or display name contains
/// `$2` (a LIKE pattern with `\`, `%` and `_` escaped, between `%`s; lower-cased here by the
/// database's `lower`, as the indexed side is), by username; `$3` rows. Other clinicians through their own trigram index (or, for texts too
/// short for trigrams, a walk of the clinicians by username that stops at the `$3`th match),
/// the clinician's approved patients through `patient_approvals` (migration 20261202400002).
pub const RECIPIENTS_OF_CLINICIAN: &str = r"
SELECT username, display_name, role FROM (
    (SELECT u.username, u.display_name, u.role
     FROM users u
     WHERE u.role = 'clinician' AND u.username <> $1
       AND lower(u.username) || chr(1) || lower(u.display_name) LIKE lower($2)
     ORDER BY u.username
     LIMIT $3)
    UNION ALL
    (SELECT u.username, u.display_name, u.role
     FROM patient_approvals a
     JOIN users u ON u.username = a.patient
     WHERE a.clinician = $1 AND a.status = 'approved'
       AND lower(u.username) || chr(1) || lower(u.display_name) LIKE lower($2)
     ORDER BY u.username
     LIMIT $3)
) found
ORDER BY username
LIMIT $3";

/// Users a patient (`$1`) may find: the clinicians approved for them and the users they
/// already have a conversation with (never other patients at large), whose username or display
/// name contains `$2` (as for [`RECIPIENTS_OF_CLINICIAN`]), by username; `$3` rows.
pub const RECIPIENTS_OF_PATIENT: &str = r"
SELECT u.username, u.display_name, u.role
FROM (
    SELECT a.clinician AS username
    FROM patient_approvals a
    WHERE a.patient = $1 AND a.status = 'approved'
    UNION
    SELECT c.counterpart FROM conversations c WHERE c.owner = $1
) candidate
JOIN users u ON u.username = candidate.username
WHERE lower(u.username) || chr(1) || lower(u.display_name) LIKE lower($2)
ORDER BY u.username
LIMIT $3";

/// Hidden messages, most recently hidden first, after (`$1` time, `$2` id); `$3` rows.
pub const DELETED: &str = "
SELECT id, sender_username, recipient_username, subject, sent_at, deleted_at, erased_at, held
FROM messages
WHERE deleted_at IS NOT NULL AND (deleted_at, id) < ($1, $2)
ORDER BY deleted_at DESC, id DESC
LIMIT $3";

/// A clinician's templates (`$1`), by title.
pub const TEMPLATES: &str = "
SELECT template_id, title, subject, content, updated_at
FROM templates
WHERE owner = $1
ORDER BY lower(title), title, template_id";

/// The scheduled messages of `$1`, `send_at` ascending, after (`$2` time, `$3` id); `$4` rows.
pub const SCHEDULED: &str = "
SELECT scheduled_id, recipient, subject, content, send_at, status, message_id, failure
FROM scheduled_messages
WHERE author = $1 AND (send_at, scheduled_id) > ($2, $3)
ORDER BY send_at, scheduled_id
LIMIT $4";

/// The users `$1` blocks, the most recent block first.
pub const BLOCKED: &str = "
SELECT b.blocked, coalesce(u.display_name, b.blocked), b.blocked_at
FROM blocks b
LEFT JOIN users u ON u.username = b.blocked
WHERE b.blocker = $1
ORDER BY b.blocked_at DESC, b.blocked";

/// Every message `$1` sent or received, with their own deletion state, oldest first (the
/// export: read through a portal).
pub const EXPORT_MESSAGES: &str = "
SELECT id, sender_username, recipient_username, subject, content, parent_message_id, sent_at,
       read_at,
       CASE WHEN sender_username = $1 THEN coalesce(is_deleted_by_sender, false)
            ELSE coalesce(is_deleted_by_recipient, false) END,
       erased_at
FROM messages
WHERE sender_username = $1 OR recipient_username = $1
ORDER BY sent_at, id";

/// Every scheduled message of `$1`, `send_at` ascending (the export).
pub const EXPORT_SCHEDULED: &str = "
SELECT scheduled_id, recipient, subject, content, send_at, status, message_id, failure
FROM scheduled_messages
WHERE author = $1
ORDER BY send_at, scheduled_id";

/// The disclosures of `$1`'s messages (reads by someone who is not their participant), newest
/// first, before chain position `$2`; `$3` rows. Only `$1`'s own message ids are shown.
pub const DISCLOSURES: &str = "
SELECT a.chain_seq, a.occurred_at, a.actor, a.role, a.action,
       ARRAY(SELECT m.id FROM messages m
             WHERE m.id = ANY (a.message_ids)
               AND (m.sender_username = $1 OR m.recipient_username = $1)
             ORDER BY m.id)
FROM access_log a
WHERE a.subjects @> ARRAY[$1::text] AND a.actor <> $1 AND a.chain_seq < $2
ORDER BY a.chain_seq DESC
LIMIT $3";

/// Every statement, by name.
pub const ALL: &[(&str, &str)] = &[
    ("inbox", INBOX),
    ("inbox, unread only", INBOX_UNREAD),
    ("unread", UNREAD),
    ("sent", SENT),
    ("user", USER),
    ("conversation", CONVERSATION),
    ("search", SEARCH),
    ("patients", PATIENTS),
    ("triage", TRIAGE),
    ("recipients of a clinician", RECIPIENTS_OF_CLINICIAN),
    ("recipients of a patient", RECIPIENTS_OF_PATIENT),
    ("deleted", DELETED),
    ("templates", TEMPLATES),
    ("scheduled", SCHEDULED),
    ("blocked", BLOCKED),
    ("export: messages", EXPORT_MESSAGES),
    ("export: scheduled", EXPORT_SCHEDULED),
    ("disclosures", DISCLOSURES),
];
