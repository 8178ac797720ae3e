// Development-only stand-in for the gateway: serves web/ and an in-memory version of the API
// (shared/spec/API.md) with the same demo users, so the SPA and flows.test.mjs can be exercised
// without the Rust backend. Not used in production and not a reference for the contract.
// GET /api/notifications/stream is a simple Server-Sent Events feed: `message`, `read`, `unread`
// and `closed` events with ids, replay after Last-Event-ID, at most 5 streams per user (the oldest
// is `replaced`), `signed_out` on logout, `shutdown` on SIGINT/SIGTERM, and 503 beyond
// STREAM_CAPACITY streams in all (STREAM_CAPACITY=0 refuses every stream: the polling fallback).
// GET /api/messages/search-recipients follows the API's rules roughly (a clinician finds the other
// clinicians and their approved patients, a patient their approved clinicians and the users they
// have messages with); GET /api/clinician/triage follows the API's ordering and wait rules roughly
// (median over the answers of the last 90 days); templates, scheduled messages (a scheduler
// delivers them every 500 ms, checking the policy again) and broadcast follow "Clinician tools"
// roughly; POST /api/admin/users and PUT /api/admin/patient-approvals let tests add
// users of their own. Patient controls and records rights roughly: blocks (not across an
// approval), archived conversations (a new message from the other person brings one back), the
// inbox's `archived` and `unread_only`, GET /api/me/export and GET /api/me/access-log (an admin's
// list of hidden messages is recorded for both participants). Erasure and legal holds roughly:
// POST /api/admin/messages/{id}/erase (409 when erased or held) blanks the subject and text and
// sets `erased_at`; PUT /api/admin/messages/{id}/hold sets `held` (listed among the deleted ones).
//
//   node web/e2e/mock-api.mjs            # PORT=8099 by default
//   BASE_URL=http://127.0.0.1:8099 node --test web/e2e/flows.test.mjs
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const WEB_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PORT = Number(process.env.PORT || 8099);
const PASSWORD = 'healing-demo';
const CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const users = new Map(Object.entries({
  admin: { role: 'admin', display_name: 'Admin' },
  auditor: { role: 'auditor', display_name: 'Auditor' },
  alice: { role: 'patient', display_name: 'Alice' },
  bob: { role: 'patient', display_name: 'Bob' },
  dr_carol: { role: 'clinician', display_name: 'Dr Carol' },
  dr_dave: { role: 'clinician', display_name: 'Dr Dave' },
}));
const approvals = new Set(['dr_carol>alice']);
const sessions = new Map(); // sid -> {username, csrf}
const messages = []; // {message_id, sender, recipient, subject, content, parent_message_id, sent_at, is_read, read_at, del_s, del_r, deleted_at}
const idempotency = new Map();
const templates = []; // {template_id, owner, title, subject, content, updated_at}
const scheduled = []; // {scheduled_id, author, recipient, subject, content, send_at, status, message_id, failure}
let position = 0;
const blocks = new Map(); // 'blocker>blocked' -> blocked_at
const archives = new Set(); // 'me>other': me archived the conversation with other
const accessLog = []; // {id, owner, occurred_at, actor, role, action, message_ids}, oldest first
const approved = (a, b) => approvals.has(`${a}>${b}`) || approvals.has(`${b}>${a}`);

// ---- Notification stream ----
const STREAM_CAPACITY = Number(process.env.STREAM_CAPACITY ?? 1000);
const STREAMS_PER_USER = 5;
const KEEP_ALIVE_MS = 15_000;
const FEED_LENGTH = 1000;
const streams = new Set(); // {username, sid, res, keepAlive}
const feed = []; // {id, username, event, data}, oldest first
let eventId = 0;

const frame = ({ id, event, data }) => `${id ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
const unreadTotal = (user) => messages.filter((x) => x.recipient === user && !x.is_read && visible(x, user)).length;

function notify(username, event, data) {
  eventId += 1;
  const entry = { id: String(eventId), username, event, data };
  feed.push(entry);
  if (feed.length > FEED_LENGTH) feed.shift();
  for (const s of streams) if (s.username === username) s.res.write(frame(entry));
}

function closeStream(s, reason) {
  streams.delete(s);
  clearInterval(s.keepAlive);
  s.res.end(frame({ event: 'closed', data: { reason } }));
}

function openStream(req, res, username, sid) {
  if (streams.size >= STREAM_CAPACITY) fail(503, 'unavailable', 'Too many live connections; try again later.');
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' });
  res.write('retry: 2000\n\n');
  const after = Number(req.headers['last-event-id']);
  if (Number.isFinite(after) && after > 0) {
    for (const entry of feed) if (entry.username === username && Number(entry.id) > after) res.write(frame(entry));
  }
  const s = { username, sid, res, keepAlive: setInterval(() => res.write(': keep-alive\n\n'), KEEP_ALIVE_MS) };
  streams.add(s);
  res.on('close', () => { streams.delete(s); clearInterval(s.keepAlive); });
  const mine = [...streams].filter((x) => x.username === username);
  if (mine.length > STREAMS_PER_USER) closeStream(mine[0], 'replaced');
}

// The scheduler: delivers due scheduled messages (the policy checked again at delivery).
setInterval(() => {
  for (const x of scheduled) {
    if (x.status !== 'pending' || Date.parse(x.send_at) > Date.now()) continue;
    try {
      mayMessage(x.author, x.recipient, false);
      x.message_id = createMessage(x.author, { recipient: x.recipient, subject: x.subject, content: x.content }).message_id;
      x.status = 'sent';
    } catch (error) {
      x.status = 'failed';
      x.failure = error.message;
    }
  }
}, 500).unref();

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const s of [...streams]) closeStream(s, 'shutdown');
    process.exit(0);
  });
}

class HttpError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}
const fail = (status, code, message) => { throw new HttpError(status, code, message); };

const now = () => new Date().toISOString();
const visible = (m, me) => !m.deleted_at && (m.sender === me ? !m.del_s : m.recipient === me ? !m.del_r : false);
const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const publicMessage = ({ del_s, del_r, deleted_at, held, ...m }) => m;

function page(items, query) {
  const limit = Math.min(Math.max(Number(query.get('limit') || 20), 1), 100);
  const start = Number(query.get('cursor') || 0);
  const slice = items.slice(start, start + limit);
  return { slice, next_cursor: start + limit < items.length ? String(start + limit) : null };
}

function validText(value, field, max) {
  if (typeof value !== 'string' || !value.trim()) fail(400, 'invalid_input', `${field} must not be empty.`);
  if (value.length > max) fail(400, 'invalid_input', `${field} is longer than ${max} characters.`);
}

function mayMessage(sender, recipient, isReplyToRecipient) {
  const s = users.get(sender).role;
  const r = users.get(recipient).role;
  if (sender === recipient) fail(400, 'invalid_input', 'You cannot send a message to yourself.');
  if (!['patient', 'clinician'].includes(s) || !['patient', 'clinician'].includes(r)) fail(403, 'forbidden', 'You may not message this user.');
  if (s === 'patient' && r === 'clinician' && !isReplyToRecipient) fail(403, 'forbidden', 'Patients can only reply to a clinician.');
  if (s === 'clinician' && r === 'patient' && !approvals.has(`${sender}>${recipient}`)) fail(403, 'forbidden', 'This patient is not assigned to you.');
  if (!approved(sender, recipient) && (blocks.has(`${sender}>${recipient}`) || blocks.has(`${recipient}>${sender}`))) {
    fail(403, 'forbidden', 'You may not send a message to this user.');
  }
}

function createMessage(sender, { recipient, subject, content, parent }) {
  const m = {
    message_id: randomUUID(), sender, recipient, subject: subject || null, content,
    parent_message_id: parent || null, sent_at: now(), is_read: false, read_at: null,
    del_s: false, del_r: false, deleted_at: null, erased_at: null, held: false,
  };
  messages.push(m);
  archives.delete(`${recipient}>${sender}`); // a new message brings an archived conversation back
  position += 1;
  notify(recipient, 'message', {
    message_id: m.message_id, sender, display_name: users.get(sender).display_name, sent_at: m.sent_at,
    total_unread: unreadTotal(recipient),
  });
  return m;
}

async function handleApi(req, res, url, body) {
  const method = req.method;
  const p = url.pathname;
  const q = url.searchParams;
  const send = (status, data, headers = {}) => {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
    res.end(data === undefined ? '' : JSON.stringify(data));
  };
  const command = (status, data) => send(status, data, { 'X-Consistency-Token': `p${position}` });

  if (method === 'POST' && p === '/api/auth/login') {
    const user = users.get(body?.username);
    if (!user || body?.password !== (user.password || PASSWORD)) fail(401, 'unauthenticated', 'Wrong username or password.');
    const sid = randomBytes(16).toString('hex');
    const csrf = randomBytes(16).toString('hex');
    sessions.set(sid, { username: body.username, csrf });
    return send(200, { username: body.username, role: user.role, display_name: user.display_name, csrf_token: csrf },
      { 'Set-Cookie': `hs_session=${sid}; Path=/; HttpOnly; SameSite=Lax` });
  }

  const sid = /(?:^|;\s*)hs_session=([a-f0-9]+)/.exec(req.headers.cookie || '')?.[1];
  const session = sid && sessions.get(sid);
  if (!session) fail(401, 'unauthenticated', 'Please sign in.');
  const me = session.username;
  const role = users.get(me).role;
  if (['POST', 'PATCH', 'PUT', 'DELETE'].includes(method) && req.headers['x-csrf-token'] !== session.csrf) {
    fail(403, 'csrf_failed', 'Security check failed. Please reload the page and try again.');
  }
  if (body === INVALID) fail(400, 'invalid_input', 'The request body is not valid JSON.');

  let m;
  if (method === 'POST' && p === '/api/auth/logout') {
    sessions.delete(sid);
    for (const s of [...streams]) if (s.sid === sid) closeStream(s, 'signed_out');
    return send(204);
  }
  if (method === 'GET' && p === '/api/notifications/stream') return openStream(req, res, me, sid);
  if (method === 'GET' && p === '/api/auth/me') return send(200, { username: me, role, display_name: users.get(me).display_name });
  if (method === 'GET' && p === '/api/csrf-token') return send(200, { csrf_token: session.csrf });

  if (method === 'POST' && p === '/api/messages/send') {
    const key = req.headers['idempotency-key'];
    if (key && idempotency.has(`${me}:${key}`)) return command(201, idempotency.get(`${me}:${key}`));
    if (typeof body?.recipient !== 'string' || !body.recipient) fail(400, 'invalid_input', 'recipient is required.');
    if (body.subject != null && (typeof body.subject !== 'string' || body.subject.length > 255)) fail(400, 'invalid_input', 'subject is longer than 255 characters.');
    validText(body.content, 'content', 10000);
    if (!users.has(body.recipient)) fail(404, 'not_found', `No user named "${body.recipient}".`);
    mayMessage(me, body.recipient, false);
    m = createMessage(me, { recipient: body.recipient, subject: body.subject, content: body.content });
    const out = { message_id: m.message_id, sent_at: m.sent_at };
    if (key) idempotency.set(`${me}:${key}`, out);
    return command(201, out);
  }
  if (method === 'POST' && p === '/api/clinician/message') {
    if (role !== 'clinician') fail(403, 'forbidden', 'Only clinicians may use this.');
    validText(body?.message, 'message', 10000);
    if (!users.has(body.recipient_username)) fail(404, 'not_found', 'No such patient.');
    mayMessage(me, body.recipient_username, false);
    m = createMessage(me, { recipient: body.recipient_username, subject: body.subject, content: body.message });
    return command(201, { message_id: m.message_id, sent_at: m.sent_at });
  }
  let match;
  if (method === 'POST' && (match = /^\/api\/messages\/([^/]+)\/reply$/.exec(p))) {
    validText(body?.content, 'content', 10000);
    const parent = messages.find((x) => x.message_id === match[1]);
    if (!parent || parent.deleted_at) fail(404, 'not_found', 'Message not found.');
    if (parent.sender !== me && parent.recipient !== me) fail(403, 'forbidden', 'You are not part of this conversation.');
    const to = parent.sender === me ? parent.recipient : parent.sender;
    mayMessage(me, to, parent.sender === to);
    const subject = parent.subject ? (parent.subject.startsWith('Re: ') ? parent.subject : `Re: ${parent.subject}`) : null;
    m = createMessage(me, { recipient: to, subject: body.subject || subject, content: body.content, parent: parent.message_id });
    return command(201, { message_id: m.message_id, parent_message_id: parent.message_id, recipient: to, sent_at: m.sent_at });
  }
  if (method === 'POST' && (match = /^\/api\/messages\/conversation\/([^/]+)\/read$/.exec(p))) {
    const other = decodeURIComponent(match[1]);
    let marked = 0;
    for (const x of messages) {
      if (x.sender === other && x.recipient === me && !x.is_read && visible(x, me)) {
        x.is_read = true; x.read_at = now(); marked += 1;
        notify(x.sender, 'read', { message_id: x.message_id, reader: me, read_at: x.read_at });
      }
    }
    position += 1;
    if (marked) notify(me, 'unread', { total_unread: unreadTotal(me) });
    return command(200, { marked });
  }
  if (method === 'DELETE' && (match = /^\/api\/messages\/([^/]+)$/.exec(p))) {
    m = messages.find((x) => x.message_id === match[1]);
    if (!m) fail(404, 'not_found', 'Message not found.');
    if (m.sender !== me && m.recipient !== me) fail(403, 'forbidden', 'You are not part of this conversation.');
    const wasUnread = m.recipient === me && !m.is_read && visible(m, me);
    if (m.sender === me) m.del_s = true;
    if (m.recipient === me) m.del_r = true;
    if (m.del_s && m.del_r && !m.deleted_at) m.deleted_at = now();
    position += 1;
    if (wasUnread) notify(me, 'unread', { total_unread: unreadTotal(me) });
    res.setHeader('X-Consistency-Token', `p${position}`);
    return send(204);
  }
  if (method === 'POST' && (match = /^\/api\/admin\/messages\/([^/]+)\/restore$/.exec(p))) {
    if (role !== 'admin') fail(403, 'forbidden', 'Administrators only.');
    m = messages.find((x) => x.message_id === match[1]);
    if (!m) fail(404, 'not_found', 'Message not found.');
    if (!m.del_s && !m.del_r) fail(409, 'conflict', 'This message is not deleted.');
    const hiddenUnread = !m.is_read && !visible(m, m.recipient);
    Object.assign(m, { del_s: false, del_r: false, deleted_at: null });
    position += 1;
    if (hiddenUnread) notify(m.recipient, 'unread', { total_unread: unreadTotal(m.recipient) });
    return command(200, { message_id: m.message_id, restored_at: now() });
  }

  if ((match = /^\/api\/admin\/messages\/([^/]+)\/(erase|hold)$/.exec(p)) && (method === 'POST' || method === 'PUT')) {
    const erase = match[2] === 'erase';
    if (method !== (erase ? 'POST' : 'PUT')) fail(404, 'not_found', 'Not found.');
    if (!/^[0-9a-f-]{32,36}$/i.test(match[1])) fail(400, 'invalid_input', 'The message id is not a UUID.');
    if (role !== 'admin') fail(403, 'forbidden', 'administrators only');
    const reason = body && body.reason;
    if (typeof reason !== 'string' || !reason.trim() || reason.length > 500 || /[\r\n]/.test(reason)) {
      fail(400, 'invalid_input', 'reason must be 1 to 500 characters on one line');
    }
    m = messages.find((x) => x.message_id === match[1]);
    if (!m) fail(404, 'not_found', 'Message not found.');
    if (!erase) {
      if (typeof body.held !== 'boolean') fail(400, 'invalid_input', 'held must be true or false');
      m.held = body.held;
      position += 1;
      return command(200, { message_id: m.message_id, held: m.held });
    }
    if (m.erased_at) fail(409, 'conflict', 'the message is already erased');
    if (m.held) fail(409, 'conflict', 'the message is under a legal hold; release the hold first');
    Object.assign(m, { erased_at: now(), subject: null, content: '' });
    position += 1;
    return command(200, { message_id: m.message_id, erased_at: m.erased_at });
  }

  // ---- Patient controls ----
  if ((match = /^\/api\/messages\/block\/([^/]+)$/.exec(p)) && (method === 'POST' || method === 'DELETE')) {
    const other = decodeURIComponent(match[1]);
    if (!/^[a-z0-9_.-]{1,64}$/.test(other)) fail(400, 'invalid_input', 'Not a username.');
    if (other === me) fail(400, 'invalid_input', 'you cannot block yourself');
    if (!users.has(other)) fail(404, 'not_found', 'No such user.');
    if (method === 'POST') {
      if (!['patient', 'clinician'].includes(role)) fail(403, 'forbidden', 'only patients and clinicians block users');
      if (approved(me, other)) fail(403, 'forbidden', 'a patient and their clinician cannot block each other');
      if (!blocks.has(`${me}>${other}`)) blocks.set(`${me}>${other}`, now());
    } else {
      blocks.delete(`${me}>${other}`);
    }
    position += 1;
    res.setHeader('X-Consistency-Token', `p${position}`);
    return send(204);
  }
  if ((match = /^\/api\/messages\/conversation\/([^/]+)\/archive$/.exec(p)) && (method === 'POST' || method === 'DELETE')) {
    const other = decodeURIComponent(match[1]);
    if (!users.has(other)) fail(404, 'not_found', 'No such user.');
    if (method === 'POST') archives.add(`${me}>${other}`);
    else archives.delete(`${me}>${other}`);
    position += 1;
    res.setHeader('X-Consistency-Token', `p${position}`);
    return send(204);
  }

  // ---- Clinician tools ----
  const ownTemplate = (id) => {
    const t = templates.find((x) => x.template_id === id && x.owner === me);
    if (!t) fail(404, 'not_found', 'Template not found.');
    return t;
  };
  const templateBody = () => {
    if (typeof body?.title !== 'string' || !body.title.trim() || body.title.length > 100) fail(400, 'invalid_input', 'title must be 1 to 100 characters.');
    if (body.subject != null && (typeof body.subject !== 'string' || body.subject.length > 255)) fail(400, 'invalid_input', 'subject is longer than 255 characters.');
    validText(body.content, 'content', 10000);
  };
  if (p === '/api/messages/templates' || p.startsWith('/api/messages/templates/')) {
    if (role !== 'clinician') fail(403, 'forbidden', 'Clinicians only.');
  }
  if (method === 'POST' && p === '/api/messages/templates') {
    templateBody();
    if (templates.filter((x) => x.owner === me).length >= 200) fail(409, 'conflict', 'At most 200 templates.');
    const t = { template_id: randomUUID(), owner: me, title: body.title.trim(), subject: body.subject || null, content: body.content, updated_at: now() };
    templates.push(t);
    return command(201, { template_id: t.template_id });
  }
  if (method === 'PUT' && (match = /^\/api\/messages\/templates\/([^/]+)$/.exec(p))) {
    const t = ownTemplate(match[1]);
    templateBody();
    Object.assign(t, { title: body.title.trim(), subject: body.subject || null, content: body.content, updated_at: now() });
    return command(200, { template_id: t.template_id, updated_at: t.updated_at });
  }
  if (method === 'DELETE' && (match = /^\/api\/messages\/templates\/([^/]+)$/.exec(p))) {
    const t = ownTemplate(match[1]);
    templates.splice(templates.indexOf(t), 1);
    res.setHeader('X-Consistency-Token', `p${position}`);
    return send(204);
  }
  const sendAtOk = (value) => {
    const at = Date.parse(value);
    if (typeof value !== 'string' || !Number.isFinite(at)) fail(400, 'invalid_input', 'send_at must be an RFC 3339 time.');
    if (at < Date.now() + 60_000 || at > Date.now() + 365 * 86_400_000) fail(400, 'invalid_input', 'send_at must be at least 1 minute and at most 365 days ahead.');
    return new Date(at).toISOString();
  };
  const publicScheduled = ({ author, ...x }) => x;
  if (method === 'POST' && p === '/api/messages/scheduled') {
    const key = req.headers['idempotency-key'];
    if (key && idempotency.has(`${me}:s:${key}`)) return command(201, idempotency.get(`${me}:s:${key}`));
    if (typeof body?.recipient !== 'string' || !body.recipient) fail(400, 'invalid_input', 'recipient is required.');
    if (body.subject != null && (typeof body.subject !== 'string' || body.subject.length > 255)) fail(400, 'invalid_input', 'subject is longer than 255 characters.');
    validText(body.content, 'content', 10000);
    const at = sendAtOk(body.send_at);
    if (!users.has(body.recipient)) fail(404, 'not_found', `No user named "${body.recipient}".`);
    mayMessage(me, body.recipient, false);
    const x = { scheduled_id: randomUUID(), author: me, recipient: body.recipient, subject: body.subject || null, content: body.content, send_at: at, status: 'pending', message_id: null, failure: null };
    scheduled.push(x);
    if (key) idempotency.set(`${me}:s:${key}`, { scheduled_id: x.scheduled_id, send_at: at });
    return command(201, { scheduled_id: x.scheduled_id, send_at: at });
  }
  if ((method === 'PATCH' || method === 'DELETE') && (match = /^\/api\/messages\/scheduled\/([^/]+)$/.exec(p))) {
    const x = scheduled.find((y) => y.scheduled_id === match[1] && y.author === me);
    if (!x) fail(404, 'not_found', 'Scheduled message not found.');
    if (method === 'PATCH') {
      if (body?.content !== undefined) validText(body.content, 'content', 10000);
      if (body?.subject != null && (typeof body.subject !== 'string' || body.subject.length > 255)) fail(400, 'invalid_input', 'subject is longer than 255 characters.');
      const at = body?.send_at !== undefined ? sendAtOk(body.send_at) : x.send_at;
      if (x.status !== 'pending') fail(409, 'conflict', 'This scheduled message is no longer pending.');
      if (body.content !== undefined) x.content = body.content;
      if (body.subject !== undefined) x.subject = body.subject || null;
      x.send_at = at;
      return command(200, publicScheduled(x));
    }
    if (x.status !== 'pending') fail(409, 'conflict', 'This scheduled message is no longer pending.');
    x.status = 'cancelled';
    res.setHeader('X-Consistency-Token', `p${position}`);
    return send(204);
  }
  if (method === 'POST' && p === '/api/clinician/messages/broadcast') {
    if (role !== 'clinician') fail(403, 'forbidden', 'Clinicians only.');
    const key = req.headers['idempotency-key'];
    if (key && idempotency.has(`${me}:b:${key}`)) return command(201, idempotency.get(`${me}:b:${key}`));
    if (body?.subject != null && (typeof body.subject !== 'string' || body.subject.length > 255)) fail(400, 'invalid_input', 'subject is longer than 255 characters.');
    validText(body?.message, 'message', 10000);
    const to = [...approvals].filter((a) => a.startsWith(`${me}>`)).map((a) => a.split('>')[1]);
    const ids = to.map((u) => createMessage(me, { recipient: u, subject: body.subject, content: body.message }).message_id);
    const out = { broadcast_id: randomUUID(), recipients: to.length, message_ids: ids };
    if (key) idempotency.set(`${me}:b:${key}`, out);
    return command(201, out);
  }

  if (method === 'POST' && p === '/api/admin/users') {
    if (role !== 'admin') fail(403, 'forbidden', 'Administrators only.');
    const { username, role: newRole, password, display_name: displayName } = body || {};
    if (typeof username !== 'string' || !/^[a-z0-9_.-]{1,64}$/.test(username)) fail(400, 'invalid_input', 'username must be 1 to 64 characters of a-z, 0-9, _ . -');
    if (!['patient', 'clinician', 'admin', 'auditor'].includes(newRole)) fail(400, 'invalid_input', 'role must be patient, clinician, admin or auditor.');
    if (typeof password !== 'string' || password.length < 8 || password.length > 256) fail(400, 'invalid_input', 'password must be 8 to 256 characters.');
    if (users.has(username)) fail(409, 'conflict', 'This username exists.');
    const name = typeof displayName === 'string' && displayName.trim() ? displayName.trim() : username;
    users.set(username, { role: newRole, display_name: name, password });
    return send(201, { username, role: newRole, display_name: name });
  }
  if (method === 'PUT' && p === '/api/admin/patient-approvals') {
    if (role !== 'admin') fail(403, 'forbidden', 'Administrators only.');
    const { clinician, patient, status } = body || {};
    if (users.get(clinician)?.role !== 'clinician' || users.get(patient)?.role !== 'patient') fail(404, 'not_found', 'No such clinician or patient.');
    if (status === 'approved') approvals.add(`${clinician}>${patient}`);
    else if (status === 'revoked') approvals.delete(`${clinician}>${patient}`);
    else fail(400, 'invalid_input', 'status must be approved or revoked.');
    return send(200, { clinician, patient, status });
  }

  if (method !== 'GET') fail(404, 'not_found', 'Not found.');
  const mine = messages.filter((x) => visible(x, me));
  const newest = (a, b) => (a.sent_at < b.sent_at ? 1 : -1);
  const unreadFrom = (other) => mine.filter((x) => x.recipient === me && x.sender === other && !x.is_read).length;

  if (p === '/api/messages/unread-count') return send(200, { unread: mine.filter((x) => x.recipient === me && !x.is_read).length });
  if (p === '/api/messages/inbox') {
    const byOther = new Map();
    for (const x of [...mine].sort(newest)) {
      const other = x.sender === me ? x.recipient : x.sender;
      if (!byOther.has(other)) byOther.set(other, x);
    }
    const archivedOnly = q.get('archived') === 'true';
    const unreadOnly = q.get('unread_only') === 'true';
    const conversations = [...byOther].filter(([other]) => archives.has(`${me}>${other}`) === archivedOnly)
      .filter(([other]) => !unreadOnly || unreadFrom(other) > 0).map(([other, x]) => ({
      with: other, with_role: users.get(other).role, display_name: users.get(other).display_name,
      last_message: { message_id: x.message_id, sender: x.sender, subject: x.subject, preview: x.content.slice(0, 120), sent_at: x.sent_at, erased_at: x.erased_at },
      unread_count: unreadFrom(other), last_activity_at: x.sent_at,
    }));
    const { slice, next_cursor } = page(conversations, q);
    return send(200, { conversations: slice, total_unread: mine.filter((x) => x.recipient === me && !x.is_read).length, next_cursor });
  }
  if (p === '/api/messages/sent') {
    const { slice, next_cursor } = page(mine.filter((x) => x.sender === me).sort(newest), q);
    return send(200, { messages: slice.map(publicMessage), next_cursor });
  }
  if ((match = /^\/api\/messages\/conversation\/([^/]+)$/.exec(p))) {
    const other = decodeURIComponent(match[1]);
    if (!users.has(other)) fail(404, 'not_found', 'No such user.');
    const thread = mine.filter((x) => x.sender === other || x.recipient === other).sort(newest);
    const { slice, next_cursor } = page(thread, q);
    return send(200, { with: other, messages: slice.reverse().map(publicMessage), next_cursor });
  }
  if (p === '/api/messages/search') {
    const query = q.get('q') || '';
    if (!query.trim() || query.length > 200) fail(400, 'invalid_input', 'q must be 1 to 200 characters.');
    const words = query.toLowerCase().split(/\s+/).filter(Boolean);
    const hit = (text, w) => new RegExp(`\\b${w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'i').test(text || '');
    const found = mine.filter((x) => words.every((w) => hit(x.subject, w) || hit(x.content, w))).sort(newest);
    const results = found.map((x) => {
      let snippet = escapeHtml(x.content.slice(0, 200));
      for (const w of words) {
        snippet = snippet.replace(new RegExp(`\\b(${escapeHtml(w).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\w*)`, 'gi'), '<mark>$1</mark>');
      }
      return { message_id: x.message_id, sender: x.sender, recipient: x.recipient, subject: x.subject, snippet, sent_at: x.sent_at };
    });
    const { slice, next_cursor } = page(results, q);
    return send(200, { results: slice, next_cursor });
  }
  if (p === '/api/messages/search-recipients') {
    const text = q.get('q') || '';
    if (!text.trim() || [...text].length > 64 || /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(text)) {
      fail(400, 'invalid_input', 'q must be 1 to 64 characters on one line, not blank.');
    }
    const needle = text.toLowerCase();
    let candidates = [];
    if (role === 'clinician') {
      candidates = [...users].filter(([name, u]) => name !== me && u.role === 'clinician').map(([name]) => name)
        .concat([...approvals].filter((a) => a.startsWith(`${me}>`)).map((a) => a.split('>')[1]));
    } else if (role === 'patient') {
      candidates = [...approvals].filter((a) => a.endsWith(`>${me}`)).map((a) => a.split('>')[0])
        .concat(messages.filter((x) => x.sender === me || x.recipient === me).map((x) => (x.sender === me ? x.recipient : x.sender)));
    }
    const found = [...new Set(candidates)]
      .filter((name) => name !== me && `${name}\u0001${users.get(name).display_name}`.toLowerCase().includes(needle))
      .sort()
      .slice(0, 20)
      .map((name) => ({ username: name, display_name: users.get(name).display_name, role: users.get(name).role }));
    return send(200, { users: found });
  }
  if (p === '/api/messages/templates') {
    const own = templates.filter((x) => x.owner === me).sort((a, b) => a.title.localeCompare(b.title))
      .map(({ owner, ...x }) => x);
    return send(200, { templates: own });
  }
  if (p === '/api/messages/scheduled') {
    const own = scheduled.filter((x) => x.author === me).sort((a, b) => (a.send_at < b.send_at ? -1 : 1))
      .map(({ author, ...x }) => x);
    const { slice, next_cursor } = page(own, q);
    return send(200, { scheduled: slice, next_cursor });
  }
  if (p === '/api/clinician/patients') {
    if (role !== 'clinician') fail(403, 'forbidden', 'Clinicians only.');
    const patients = [...approvals].filter((a) => a.startsWith(`${me}>`)).map((a) => a.split('>')[1]).map((u) => {
      const last = mine.filter((x) => x.sender === u || x.recipient === u).sort(newest)[0];
      return { username: u, display_name: users.get(u).display_name, unread_count: unreadFrom(u), last_message_at: last ? last.sent_at : null };
    });
    return send(200, { patients });
  }
  if (p === '/api/clinician/triage') {
    if (role !== 'clinician') fail(403, 'forbidden', 'Clinicians only.');
    // Waits follow the sends alone (deleted messages count too): a patient message begins a wait
    // unless one runs; the clinician's next message to that patient ends it.
    const since90 = new Date(Date.now() - 90 * 86_400_000).toISOString();
    const patients = [...approvals].filter((a) => a.startsWith(`${me}>`)).map((a) => a.split('>')[1]).map((u) => {
      let waiting = null;
      const replies = [];
      for (const x of messages.filter((y) => (y.sender === u && y.recipient === me) || (y.sender === me && y.recipient === u))
        .sort((a, b) => (a.sent_at < b.sent_at ? -1 : 1))) {
        if (x.sender === u && !waiting) waiting = x.sent_at;
        else if (x.sender === me && waiting) {
          if (x.sent_at >= since90) replies.push((Date.parse(x.sent_at) - Date.parse(waiting)) / 60_000);
          waiting = null;
        }
      }
      replies.sort((a, b) => a - b);
      const mid = Math.floor(replies.length / 2);
      const median = !replies.length ? null : replies.length % 2 ? replies[mid] : (replies[mid - 1] + replies[mid]) / 2;
      const last = mine.filter((x) => x.sender === u || x.recipient === u).sort(newest)[0];
      return {
        username: u, display_name: users.get(u).display_name, unread_from_patient: unreadFrom(u),
        waiting_since: waiting, last_message_at: last ? last.sent_at : null, median_reply_minutes: median,
      };
    });
    const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
    patients.sort((a, b) => (a.waiting_since ? 0 : 1) - (b.waiting_since ? 0 : 1)
      || (a.waiting_since && b.waiting_since ? cmp(a.waiting_since, b.waiting_since) : 0)
      || (a.last_message_at ? 0 : 1) - (b.last_message_at ? 0 : 1)
      || cmp(b.last_message_at || '', a.last_message_at || '')
      || cmp(a.username, b.username));
    return send(200, { patients });
  }
  if (p === '/api/messages/blocked') {
    const blocked = [...blocks].filter(([k]) => k.startsWith(`${me}>`)).map(([k, at]) => {
      const username = k.split('>')[1];
      return { username, display_name: users.get(username).display_name, blocked_at: at };
    });
    return send(200, { blocked });
  }
  if (p === '/api/me/export') {
    const own = messages.filter((x) => x.sender === me || x.recipient === me).map((x) => ({
      ...publicMessage(x), deleted: x.sender === me ? x.del_s : x.del_r,
    }));
    const blocked = [...blocks].filter(([k]) => k.startsWith(`${me}>`)).map(([k, at]) => ({ username: k.split('>')[1], blocked_at: at }));
    return send(200, {
      user: { username: me, role, display_name: users.get(me).display_name }, generated_at: now(), messages: own, blocked,
      templates: templates.filter((x) => x.owner === me).map(({ owner, ...x }) => x),
      scheduled: scheduled.filter((x) => x.author === me).map(({ author, ...x }) => x),
    }, { 'Content-Disposition': `attachment; filename="healing-space-${me}.json"` });
  }
  if (p === '/api/me/access-log') {
    if (role !== 'patient') fail(403, 'forbidden', 'Patients only.');
    const own = accessLog.filter((x) => x.owner === me).reverse().map(({ id, owner, ...x }) => x);
    const { slice, next_cursor } = page(own, q);
    return send(200, { entries: slice, next_cursor });
  }
  if (p === '/api/admin/messages/deleted') {
    if (role !== 'admin') fail(403, 'forbidden', 'Administrators only.');
    const hidden = messages.filter((x) => x.deleted_at).sort((a, b) => (a.deleted_at < b.deleted_at ? 1 : -1));
    const { slice, next_cursor } = page(hidden.map(({ message_id, sender, recipient, subject, sent_at, deleted_at, erased_at, held }) => ({ message_id, sender, recipient, subject, sent_at, deleted_at, erased_at, held })), q);
    for (const owner of new Set(slice.flatMap((x) => [x.sender, x.recipient]))) {
      const ids = slice.filter((x) => x.sender === owner || x.recipient === owner).map((x) => x.message_id);
      accessLog.push({ id: accessLog.length + 1, owner, occurred_at: now(), actor: me, role, action: 'deleted_listed', message_ids: ids });
    }
    return send(200, { messages: slice, next_cursor });
  }
  if (p === '/api/audit/log') {
    if (!['admin', 'auditor'].includes(role)) fail(403, 'forbidden', 'Auditors only.');
    return send(200, { entries: [], next_cursor: null });
  }
  fail(404, 'not_found', 'Not found.');
}

const INVALID = Symbol('invalid');
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };

async function serveStatic(res, pathname) {
  const rel = pathname === '/' ? 'index.html' : pathname.slice(1);
  const file = path.resolve(WEB_ROOT, rel);
  if (!file.startsWith(WEB_ROOT + path.sep) || rel.includes('node_modules') || rel.startsWith('e2e')) {
    res.writeHead(404).end();
    return;
  }
  try {
    const data = await readFile(file);
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream', 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff' });
    res.end(data);
  } catch {
    res.writeHead(404).end();
  }
}

http.createServer(async (req, res) => {
  const url = new URL(req.url, `http://${req.headers.host || 'localhost'}`);
  if (!url.pathname.startsWith('/api/')) return serveStatic(res, url.pathname);
  let raw = '';
  for await (const chunk of req) raw += chunk;
  let body;
  try { body = raw ? JSON.parse(raw) : undefined; } catch { body = INVALID; }
  try {
    await handleApi(req, res, url, body);
  } catch (error) {
    const status = error instanceof HttpError ? error.status : 500;
    if (!(error instanceof HttpError)) console.error(error);
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: { code: error.code || 'internal', message: error instanceof HttpError ? error.message : 'Internal error.' } }));
  }
}).listen(PORT, '127.0.0.1', () => console.log(`mock API and SPA on http://127.0.0.1:${PORT}`));
