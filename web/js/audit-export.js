// The auditor's export (views/auditor.js): pages through GET /api/audit/log or /api/audit/access
// with the applied filters (100 entries a request, keyset cursor), up to EXPORT_CAP entries, and
// hands the result to the browser as a CSV or JSON file (a Blob download: nothing is sent
// anywhere else). A 429 waits for its Retry-After and tries the same page again.
import { request } from './api.js';
import { actionLabel } from './audit-words.js';

export const EXPORT_CAP = 50_000;
export const PAGE_LIMIT = 100;
const RATE_LIMIT_RETRIES = 5;

export const PATHS = { audit: '/api/audit/log', access: '/api/audit/access' };

/** One page of the `audit` or `access` log with `filters` (API parameter names) and `cursor`. */
export function fetchPage(kind, filters, cursor, limit) {
  return request('GET', PATHS[kind], { query: { ...filters, cursor, limit } });
}

const wait = (ms, signal) => new Promise((resolve, reject) => {
  const timer = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(timer); reject(new DOMException('aborted', 'AbortError')); }, { once: true });
});

/**
 * Every entry the filters select, oldest first, at most `cap`: `{entries, complete}`.
 * `onProgress(count)` after each page; `signal` (an AbortSignal) stops it between pages.
 */
export async function collect(kind, filters, { cap = EXPORT_CAP, onProgress, signal } = {}) {
  const entries = [];
  let cursor;
  for (;;) {
    if (signal?.aborted) throw new DOMException('aborted', 'AbortError');
    let page;
    for (let attempt = 0; ; attempt += 1) {
      try {
        page = await fetchPage(kind, filters, cursor, Math.min(PAGE_LIMIT, cap - entries.length) || 1);
        break;
      } catch (error) {
        if (error.code !== 'rate_limited' || attempt >= RATE_LIMIT_RETRIES) throw error;
        await wait(1000 * Math.max(1, error.retryAfter || 1), signal);
      }
    }
    for (const entry of page.entries) {
      if (entries.length >= cap) break;
      entries.push(entry);
    }
    if (onProgress) onProgress(entries.length);
    cursor = page.next_cursor || null;
    if (!cursor) return { entries, complete: true };
    if (entries.length >= cap) return { entries, complete: false };
  }
}

// ---- Files -----------------------------------------------------------------------------------

const AUDIT_COLUMNS = ['position', 'occurred_at', 'actor', 'action', 'action_label', 'message_id',
  'request_id', 'client_ip', 'details'];
const ACCESS_COLUMNS = ['id', 'occurred_at', 'actor', 'role', 'action', 'action_label', 'counterpart',
  'message_ids', 'query_length', 'result_count', 'request_id', 'client_ip'];

/** A CSV cell (RFC 4180): quoted when needed; a leading = + - @ is kept as text for spreadsheets. */
export function csvCell(value) {
  if (value === null || value === undefined) return '';
  let text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvValue(kind, entry, column) {
  if (column === 'action_label') return actionLabel(kind, entry.action, entry.details);
  if (column === 'message_ids') return (entry.message_ids || []).join(' ');
  return entry[column];
}

/** The entries as CSV with a header line (CRLF line ends). */
export function toCsv(kind, entries) {
  const columns = kind === 'access' ? ACCESS_COLUMNS : AUDIT_COLUMNS;
  const lines = [columns.join(',')];
  for (const entry of entries) lines.push(columns.map((c) => csvCell(csvValue(kind, entry, c))).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** The entries as JSON, with what was asked for and whether the cap cut the export short. */
export function toJson(kind, entries, { filters, complete, exportedAt }) {
  return `${JSON.stringify({
    log: kind === 'access' ? 'access_log' : 'audit_log',
    exported_at: exportedAt,
    filters,
    complete,
    count: entries.length,
    entries,
  }, null, 2)}\n`;
}

/** "audit-log-2026-12-03T09-14-05Z.csv" */
export function fileName(kind, format, at = new Date()) {
  const stamp = at.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
  return `${kind === 'access' ? 'access-log' : 'audit-log'}-${stamp}.${format}`;
}

/** Offers `text` as a file download. */
export function download(text, name, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
