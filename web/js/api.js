// HTTP client for the messaging API (see shared/spec/API.md).
//
// - The CSRF token lives only in memory (never in storage) and is sent as X-CSRF-Token on every
//   POST/PATCH/PUT/DELETE.
// - The last X-Consistency-Token answered by a command is sent back on every GET, so the user
//   always sees the effect of their own actions (read-your-writes).
// - Every failure becomes an ApiError carrying the server's {error: {code, message}} (the code
//   follows from the status when the body has none) and Retry-After; errors.js words it for people.

export class ApiError extends Error {
  constructor(status, code, message, { retryAfter = null, sessionEnded = false } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
    // A 401 of a session-bound call: the session handler has said so once; views stay quiet.
    this.sessionEnded = sessionEnded;
  }
}

const tokens = { csrf: null, consistency: null };
const UNSAFE = new Set(['POST', 'PATCH', 'PUT', 'DELETE']);
let onUnauthenticated = () => {};

export function setCsrfToken(token) { tokens.csrf = token || null; }
export function resetTokens() { tokens.csrf = null; tokens.consistency = null; }

/** Called with the ApiError when a session-bound call answers 401 (session expired or revoked). */
export function setUnauthenticatedHandler(fn) { onUnauthenticated = fn; }

// The code of an answer without the error envelope (a proxy's or a timeout's), by status.
const CODE_BY_STATUS = {
  400: 'invalid_input', 401: 'unauthenticated', 403: 'forbidden', 404: 'not_found',
  409: 'conflict', 413: 'payload_too_large', 429: 'rate_limited', 503: 'unavailable',
};
const codeOf = (status) => CODE_BY_STATUS[status] || (status >= 500 ? 'internal' : `http_${status}`);

function withQuery(path, query) {
  if (!query) return path;
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
  }
  const s = qs.toString();
  return s ? `${path}?${s}` : path;
}

export async function request(method, path, { body, query, headers: extra, auth = true } = {}) {
  const headers = { Accept: 'application/json', ...extra };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (UNSAFE.has(method)) {
    if (tokens.csrf) headers['X-CSRF-Token'] = tokens.csrf;
  } else if (tokens.consistency) {
    headers['X-Consistency-Token'] = tokens.consistency;
  }

  let res;
  try {
    res = await fetch(withQuery(path, query), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'network', 'network error');
  }

  const consistency = res.headers.get('X-Consistency-Token');
  if (consistency) tokens.consistency = consistency;

  let data = null;
  if (res.status !== 204) {
    const text = await res.text();
    if (text) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
  }

  if (!res.ok) {
    const err = data && typeof data === 'object' ? data.error : null;
    const message = (err && typeof err.message === 'string' && err.message) || `HTTP ${res.status}`;
    const code = (err && typeof err.code === 'string' && err.code) || codeOf(res.status);
    const retryAfter = /^\d{1,6}$/.test(res.headers.get('Retry-After') || '')
      ? Number(res.headers.get('Retry-After')) : null;
    const sessionEnded = res.status === 401 && auth;
    const error = new ApiError(res.status, code, message, { retryAfter, sessionEnded });
    if (sessionEnded) onUnauthenticated(error);
    throw error;
  }
  return data;
}

/** A fresh Idempotency-Key (UUID v4 where available). */
export function newIdempotencyKey() {
  if (globalThis.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

const seg = encodeURIComponent;
const optional = (value) => (value && value.trim() ? value.trim() : undefined);

export const api = {
  // Sessions
  login: (username, password) =>
    request('POST', '/api/auth/login', { body: { username, password }, auth: false }),
  logout: () => request('POST', '/api/auth/logout', { auth: false }),
  me: () => request('GET', '/api/auth/me', { auth: false }),
  csrfToken: () => request('GET', '/api/csrf-token', { auth: false }),

  // Queries
  /** `archived`: only archived conversations; `unreadOnly`: only those with unread messages. */
  inbox: (cursor, { archived = false, unreadOnly = false } = {}) => request('GET', '/api/messages/inbox', {
    query: { cursor, archived: archived ? 'true' : undefined, unread_only: unreadOnly ? 'true' : undefined },
  }),
  sent: (cursor) => request('GET', '/api/messages/sent', { query: { cursor } }),
  conversation: (user, cursor) =>
    request('GET', `/api/messages/conversation/${seg(user)}`, { query: { cursor } }),
  search: (q, cursor) => request('GET', '/api/messages/search', { query: { q, cursor } }),
  searchRecipients: (q) => request('GET', '/api/messages/search-recipients', { query: { q } }),
  unreadCount: () => request('GET', '/api/messages/unread-count'),
  patients: () => request('GET', '/api/clinician/patients'),
  triage: () => request('GET', '/api/clinician/triage'),
  auditLog: (cursor) => request('GET', '/api/audit/log', { query: { cursor } }),
  deletedMessages: (cursor) => request('GET', '/api/admin/messages/deleted', { query: { cursor } }),
  templates: () => request('GET', '/api/messages/templates'),
  scheduled: (cursor) => request('GET', '/api/messages/scheduled', { query: { cursor } }),
  blocked: () => request('GET', '/api/messages/blocked'),
  accessLog: (cursor) => request('GET', '/api/me/access-log', { query: { cursor } }),

  // Commands
  send: ({ recipient, subject, content }, idempotencyKey) =>
    request('POST', '/api/messages/send', {
      body: { recipient, subject: optional(subject), content },
      headers: idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : undefined,
    }),
  reply: (messageId, content, idempotencyKey) =>
    request('POST', `/api/messages/${seg(messageId)}/reply`, {
      body: { content },
      headers: idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : undefined,
    }),
  clinicianMessage: ({ recipient_username, subject, message }) =>
    request('POST', '/api/clinician/message', {
      body: { recipient_username, message, subject: optional(subject) },
    }),
  markConversationRead: (user) =>
    request('POST', `/api/messages/conversation/${seg(user)}/read`),
  deleteMessage: (messageId) => request('DELETE', `/api/messages/${seg(messageId)}`),
  restoreMessage: (messageId) => request('POST', `/api/admin/messages/${seg(messageId)}/restore`),
  /** Administrators: erases a message for good (its subject and text); `reason` is one line. */
  eraseMessage: (messageId, reason) =>
    request('POST', `/api/admin/messages/${seg(messageId)}/erase`, { body: { reason: reason.trim() } }),
  /** Administrators: places (`held` true) or releases a legal hold, which exempts it from erasure. */
  setHold: (messageId, held, reason) =>
    request('PUT', `/api/admin/messages/${seg(messageId)}/hold`, { body: { held: Boolean(held), reason: reason.trim() } }),

  // Clinician tools: templates, scheduled messages, broadcast
  createTemplate: ({ title, subject, content }, idempotencyKey) =>
    request('POST', '/api/messages/templates', {
      body: { title: title.trim(), subject: optional(subject), content },
      headers: idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : undefined,
    }),
  updateTemplate: (templateId, { title, subject, content }) =>
    request('PUT', `/api/messages/templates/${seg(templateId)}`, {
      body: { title: title.trim(), subject: optional(subject), content },
    }),
  deleteTemplate: (templateId) => request('DELETE', `/api/messages/templates/${seg(templateId)}`),
  schedule: ({ recipient, subject, content, send_at: sendAt }, idempotencyKey) =>
    request('POST', '/api/messages/scheduled', {
      body: { recipient, subject: optional(subject), content, send_at: sendAt },
      headers: idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : undefined,
    }),
  /** `changes`: any of {send_at, subject, content}; `subject: null` removes the subject. */
  updateScheduled: (scheduledId, changes) =>
    request('PATCH', `/api/messages/scheduled/${seg(scheduledId)}`, { body: changes }),
  cancelScheduled: (scheduledId) => request('DELETE', `/api/messages/scheduled/${seg(scheduledId)}`),
  broadcast: ({ subject, message }, idempotencyKey) =>
    request('POST', '/api/clinician/messages/broadcast', {
      body: { subject: optional(subject), message },
      headers: idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : undefined,
    }),

  // Patient controls: blocking and archiving (both answer 204; repeats are 204 too)
  block: (user) => request('POST', `/api/messages/block/${seg(user)}`),
  unblock: (user) => request('DELETE', `/api/messages/block/${seg(user)}`),
  archive: (user) => request('POST', `/api/messages/conversation/${seg(user)}/archive`),
  unarchive: (user) => request('DELETE', `/api/messages/conversation/${seg(user)}/archive`),
};

/**
 * The caller's copy of their records (GET /api/me/export): a JSON attachment, streamed by the
 * server. A plain link downloads it with the session cookie; it is never read into the page.
 */
export const EXPORT_URL = '/api/me/export';
