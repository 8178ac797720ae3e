// What the auditor's view says about audit-trail entries (views/auditor.js): readable names of
// the actions, exact times, shortened ids, and the filters as the audit API takes them
// (query-service/src/handlers/audit_filter.rs: usernames, a UUID, a snake_case action, RFC 3339
// times with `from` before `to`).

/** Audit-log actions (the snake_case names of the recorded events), grouped for the filter. */
export const AUDIT_ACTIONS = [
  ['Messages', [
    ['message_sent', 'Message sent'],
    ['message_read', 'Message read'],
    ['message_deleted_by_sender', 'Message deleted by its sender'],
    ['message_deleted_by_recipient', 'Message deleted by its recipient'],
    ['message_hidden', 'Message hidden (deleted by both sides)'],
    ['message_restored', 'Message restored'],
    ['message_erased', 'Message erased by an administrator'],
    ['message_hold_set', 'Legal hold placed or released'],
  ]],
  ['Scheduled messages', [
    ['message_scheduled', 'Message scheduled'],
    ['scheduled_message_changed', 'Scheduled message changed'],
    ['scheduled_message_cancelled', 'Scheduled message cancelled'],
    ['scheduled_message_delivered', 'Scheduled message delivered'],
    ['scheduled_message_failed', 'Scheduled message failed'],
  ]],
  ['Templates and broadcasts', [
    ['template_created', 'Template created'],
    ['template_changed', 'Template changed'],
    ['template_deleted', 'Template deleted'],
    ['broadcast_sent', 'Message to all patients sent'],
  ]],
  ['Blocking and conversations', [
    ['user_blocked', 'User blocked'],
    ['user_unblocked', 'User unblocked'],
    ['conversation_archived', 'Conversation archived'],
    ['conversation_unarchived', 'Conversation unarchived'],
  ]],
];

/** Access-log actions (the reads the query side records), grouped for the filter. */
export const ACCESS_ACTIONS = [
  ['Messages', [
    ['inbox_listed', 'Inbox listed'],
    ['conversation_viewed', 'Conversation viewed'],
    ['sent_listed', 'Sent messages listed'],
    ['search', 'Messages searched'],
    ['scheduled_listed', 'Scheduled messages listed'],
    ['templates_listed', 'Templates listed'],
  ]],
  ['Clinicians', [
    ['patients_listed', 'Patient list viewed'],
    ['triage_viewed', 'Triage viewed'],
  ]],
  ['Administration and audit', [
    ['deleted_listed', 'Deleted messages listed'],
    ['audit_viewed', 'Audit log viewed'],
    ['access_log_viewed', 'Access log viewed'],
  ]],
];

const labels = (groups) => new Map(groups.flatMap(([, actions]) => actions));
const AUDIT_LABELS = labels(AUDIT_ACTIONS);
const ACCESS_LABELS = labels(ACCESS_ACTIONS);

/**
 * The readable name of an action of the `audit` or `access` log; an unknown one as it is. With
 * the entry's `details`, a legal hold's entry says whether the hold was placed or released.
 */
export function actionLabel(kind, action, details = null) {
  if (kind !== 'access' && action === 'message_hold_set' && details && typeof details.held === 'boolean') {
    return details.held ? 'Legal hold placed' : 'Legal hold released';
  }
  const known = (kind === 'access' ? ACCESS_LABELS : AUDIT_LABELS).get(action);
  return known || String(action ?? '');
}

/** Whether `action` has a readable name (else it is shown as its code). */
export function isKnownAction(kind, action) {
  return (kind === 'access' ? ACCESS_LABELS : AUDIT_LABELS).has(action);
}

// ---- Times -----------------------------------------------------------------------------------

const EXACT = {
  year: 'numeric', month: 'short', day: 'numeric',
  hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short',
};
let fmtExact;
function exactFormat() {
  if (!fmtExact) {
    try {
      fmtExact = new Intl.DateTimeFormat(undefined, EXACT);
    } catch {
      fmtExact = { format: (d) => d.toString() };
    }
  }
  return fmtExact;
}

/** "Dec 3, 2026, 09:14:05 AM GMT+1": the date and the time to the second, with its time zone. */
export function exactTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso ?? '') : exactFormat().format(d);
}

/** The person's time zone ("Europe/Berlin"), or '' when the browser does not say. */
export function zoneName() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || '';
  } catch {
    return '';
  }
}

/**
 * A `datetime-local` value (local time, minutes or seconds) as RFC 3339 UTC
 * ("2026-12-03T08:30:05.000Z"); '' when empty, null when not a time.
 */
export function localInputToRfc3339(value) {
  if (!value) return '';
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/.exec(value);
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]),
    Number(m[6] || 0), Number((m[7] || '0').padEnd(3, '0')));
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

// ---- Ids -------------------------------------------------------------------------------------

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
export const isUuid = (value) => UUID.test(value);

/** The first 8 characters of a long id and "…"; a short one as it is. */
export function shortId(id) {
  const text = String(id ?? '');
  return text.length > 12 ? `${text.slice(0, 8)}…` : text;
}

// ---- Filters ---------------------------------------------------------------------------------

const USERNAME = /^[a-z0-9_.-]{1,64}$/;
const ACTION = /^[a-z_]{1,64}$/;

export const usernameProblem = (value) => (!value || USERNAME.test(value) ? ''
  : 'Please enter a username: up to 64 characters of a–z, 0–9, _ . and -.');
export const messageIdProblem = (value) => (!value || isUuid(value) ? ''
  : 'Please enter a whole message id (a UUID such as 0b5e61c2-8f3a-4c1e-9d2b-7a6f5e4d3c2b); copy it from an entry.');
export const actionProblem = (value) => (!value || ACTION.test(value) ? ''
  : 'Please enter an action code of lowercase letters and _ (such as message_sent).');

/** Readable names of the audit log's `details` fields (audit/src/entry.rs); others as they are. */
const DETAIL_LABELS = {
  sender: 'Sender',
  recipient: 'Recipient',
  sender_role: 'Sender’s role',
  recipient_role: 'Recipient’s role',
  actor_role: 'Actor’s role',
  channel: 'Channel',
  parent_message_id: 'In reply to message',
  restored_by: 'Restored by',
  erased_by: 'Erased by',
  held: 'Legal hold',
  set_by: 'Hold set by',
  author: 'Author',
  owner: 'Owner',
  clinician: 'Clinician',
  template_id: 'Template',
  scheduled_id: 'Scheduled message',
  broadcast_id: 'Broadcast',
  send_at: 'To be sent at',
  reason: 'Reason',
  recipients: 'Recipients',
  event_version: 'Event version',
};

export const detailLabel = (key) => DETAIL_LABELS[key] || key;

/** A `held` detail in words: the hold was placed (true) or released (false). */
export const holdWords = (held) => (held ? 'Placed (the message may not be erased)' : 'Released');
