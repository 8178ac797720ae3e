// Small DOM helpers. All server text goes into the page as text nodes: nothing here uses innerHTML.

/**
 * h('button', {class: 'btn', testid: 'x', onclick: fn}, 'Label', child, ...)
 * Props: class, testid (data-testid), dataset, text, on<event> handlers; `true` sets an empty
 * attribute, `false`/null/undefined skips it; everything else becomes an attribute.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'testid') el.dataset.testid = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  appendChildren(el, children);
  return el;
}

function appendChildren(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

let idCounter = 0;
/** A unique id for label/aria wiring. */
export function uid(prefix = 'id') {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** Visually hidden text for screen readers. */
export const srOnly = (text) => h('span', { class: 'sr-only' }, text);

const sameDay = (a, b) => a.getFullYear() === b.getFullYear()
  && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();

const fmtTime = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const fmtDate = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
const fmtFull = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' });

export function formatDateTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  if (sameDay(d, new Date())) return `Today ${fmtTime.format(d)}`;
  return `${fmtDate.format(d)}, ${fmtTime.format(d)}`;
}

/** <time datetime=…> with a short visible text and the full date as tooltip. */
export function timeEl(iso, props = {}) {
  if (!iso) return null;
  const d = new Date(iso);
  const title = Number.isNaN(d.getTime()) ? undefined : fmtFull.format(d);
  return h('time', { datetime: iso, title, ...props }, formatDateTime(iso));
}

const NAMED_ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

/** Decodes the few HTML entities an escaping server emits. The result is only used as text. */
export function decodeEntities(text) {
  return text.replace(/&(#[xX][0-9a-fA-F]{1,6}|#\d{1,7}|[a-zA-Z]{2,6});/g, (all, ent) => {
    if (ent[0] === '#') {
      const cp = ent[1] === 'x' || ent[1] === 'X' ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10);
      const valid = cp > 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
      return valid ? String.fromCodePoint(cp) : all;
    }
    return NAMED_ENTITIES[ent.toLowerCase()] ?? all;
  });
}

/**
 * Renders a search snippet safely. The server wraps matches in <mark>…</mark> and escapes the rest.
 * Only the exact tokens <mark> and </mark> become elements; every other character (including any
 * other tag) ends up in a text node, so nothing from the server is ever parsed as HTML.
 */
export function renderSnippet(snippet) {
  const frag = document.createDocumentFragment();
  const text = String(snippet ?? '');
  const tag = /<(\/?)mark>/gi;
  let open = null;
  let last = 0;
  const push = (part) => {
    if (part) (open || frag).append(document.createTextNode(decodeEntities(part)));
  };
  let m;
  while ((m = tag.exec(text)) !== null) {
    push(text.slice(last, m.index));
    last = tag.lastIndex;
    if (!m[1] && !open) {
      open = document.createElement('mark');
      frag.append(open);
    } else if (m[1] && open) {
      open = null;
    }
  }
  push(text.slice(last));
  return frag;
}

/** A section heading that receives focus when its view is shown. */
export function viewHeading(text, id) {
  return h('h1', { class: 'view-title', id, tabindex: '-1' }, text);
}

/** "Load more" button helper for cursor-paged lists. */
export function moreButton(label, onclick) {
  return h('button', { type: 'button', class: 'btn btn-quiet btn-more', testid: 'load-more', hidden: true, onclick }, label);
}

export function roleLabel(role) {
  return { patient: 'Patient', clinician: 'Clinician', admin: 'Administrator', auditor: 'Auditor' }[role] || role || '';
}

/** Sender-side read status: "✓ Sent" or "✓✓ Read" (+ read time). */
export function readStatus(message, testid = 'sent-status') {
  if (message.is_read) {
    return h('span', { class: 'read-status' },
      h('span', { class: 'status status-read', testid }, '✓✓ Read'),
      message.read_at ? [' ', h('span', { class: 'muted' }, '· ', timeEl(message.read_at, { 'data-testid': 'read-at' }))] : null);
  }
  return h('span', { class: 'read-status' }, h('span', { class: 'status status-sent', testid }, '✓ Sent'));
}

/** The words shown in place of an erased message (its subject and text are gone for good). */
export const ERASED_TEXT = 'This message was erased by an administrator';

/** Whether a message (or an inbox row's last message) was erased by an administrator. */
export const isErased = (m) => Boolean(m && m.erased_at);

/** The muted note shown instead of an erased message's text: never an empty bubble. */
export function erasedNote(tag = 'span', { testid = 'erased-note', className = '' } = {}) {
  return h(tag, { class: `erased-note${className ? ` ${className}` : ''}`, testid }, ERASED_TEXT);
}

// A paged list's loader: fetches a page (the first, or the next with the cursor), renders its
// rows into `list`, keeps the "more" button and the empty note in step, and ignores answers
// that a newer load has overtaken. Returns `load(append)`.
export function pagedLoader({ list, empty, more, fetchPage, rows, render, onFirstPage, showError }) {
  let cursor = null;
  let seq = 0;
  return async function load(append = false) {
    const mine = ++seq;
    list.setAttribute('aria-busy', 'true');
    more.disabled = true;
    try {
      const page = await fetchPage(append ? cursor : undefined);
      if (mine !== seq) return;
      const items = rows(page).map(render);
      if (append) list.append(...items); else list.replaceChildren(...items);
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
      empty.hidden = list.children.length > 0;
      if (!append && onFirstPage) onFirstPage(page);
    } catch (error) {
      if (mine === seq) showError(error);
    } finally {
      if (mine === seq) {
        list.removeAttribute('aria-busy');
        more.disabled = false;
      }
    }
  };
}
