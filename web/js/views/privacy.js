// Privacy (API.md, "Patient controls" and "Records rights"), for patients and clinicians:
// - Blocked people (GET /api/messages/blocked) with "Unblock" (DELETE /api/messages/block/{user}).
// - "Download my messages": a link to GET /api/me/export, a JSON attachment the server streams;
//   the browser downloads it with the session cookie (it is never read into the page).
// - For patients, "Who accessed my messages" (GET /api/me/access-log, newest first, paged): every
//   read of their messages by someone other than them and the people they write with (admins,
//   auditors), with the exact time, the person, their role and what they did, in words.
import { h, timeEl, viewHeading, moreButton, pagedLoader, roleLabel } from '../dom.js';
import { EXPORT_URL } from '../api.js';

// Exact time, to the second, with the time zone: "Thu, 3 Dec 2026, 09:41:07 UTC".
const fmtExact = new Intl.DateTimeFormat(undefined, {
  weekday: 'short', day: 'numeric', month: 'short', year: 'numeric',
  hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short',
});

/** `<time>` with the exact time (seconds included) as its visible text. */
export function exactTime(iso, props = {}) {
  const d = new Date(iso);
  if (!iso || Number.isNaN(d.getTime())) return h('span', props, 'an unknown time');
  return h('time', { datetime: iso, ...props }, fmtExact.format(d));
}

// The access log's actions (docs/audit.md, "The access log"), as a sentence's verb phrase.
const ACTION_WORDS = {
  // The two that name other people's reads of a patient's messages (docs/API.md, "Records rights").
  deleted_listed: 'looked at the list of deleted messages',
  audit_viewed: 'looked at the audit trail',
  // Other reads of the access log, should one ever name a patient.
  conversation_viewed: 'read a conversation',
  search: 'searched messages',
  inbox_listed: 'looked at an inbox',
  sent_listed: 'looked at a list of sent messages',
  access_log_viewed: 'looked at the access log',
  disclosures_viewed: 'looked at who accessed messages',
  records_exported: 'downloaded a copy of messages',
};

/** An access-log action in words; an unknown one is its name in plain words. */
export function actionWords(action) {
  if (ACTION_WORDS[action]) return ACTION_WORDS[action];
  const words = String(action || '').replace(/[_-]+/g, ' ').trim();
  return words ? `did “${words}”` : 'looked at your messages';
}

// Who a role is, for someone who does not know the service's insides.
const ROLE_WORDS = {
  admin: 'an administrator of Healing Space',
  auditor: 'an auditor, who checks that records are handled properly',
  clinician: 'a clinician',
  patient: 'a patient',
};
const roleWords = (role) => ROLE_WORDS[role] || (role ? `role: ${roleLabel(role)}` : 'role not recorded');

const messagesWords = (n) => `${n} of your messages`;

export function privacyView(ctx) {
  const isPatient = ctx.user && ctx.user.role === 'patient';
  const isClinician = ctx.user && ctx.user.role === 'clinician';

  // ---- Blocked people ----
  const blockedList = h('ul', { class: 'item-list', testid: 'blocked-list', 'aria-labelledby': 'blocked-title' });
  const blockedEmpty = h('p', { class: 'empty', hidden: true, testid: 'blocked-empty' }, 'You have not blocked anyone.');
  const blockedSection = h('section', { class: 'privacy-section', 'aria-labelledby': 'blocked-title' },
    h('h2', { id: 'blocked-title', class: 'section-title', tabindex: '-1' }, 'Blocked people'),
    h('p', { class: 'hint' },
      'You and a person you block cannot send messages to each other. To block someone, open your conversation with them and choose “Block”.'),
    blockedList, blockedEmpty);

  // ---- Download ----
  const exportSection = h('section', { class: 'privacy-section', 'aria-labelledby': 'export-title' },
    h('h2', { id: 'export-title', class: 'section-title' }, 'Download my messages'),
    h('p', {}, isClinician
      ? 'One file (JSON) with every message you sent or received, the people you blocked, your templates and your scheduled messages.'
      : 'One file (JSON) with every message you sent or received, the people you blocked and your scheduled messages.'),
    h('p', { class: 'hint', id: 'export-hint' },
      'The file contains what your messages say. If this is a shared device, keep the file somewhere only you can open.'),
    h('p', {},
      h('a', {
        class: 'btn btn-quiet', href: EXPORT_URL, download: 'healing-space-messages.json', testid: 'export-link',
        'aria-describedby': 'export-hint',
      }, 'Download my messages')));

  // ---- Access log (patients) ----
  const accessList = h('ul', { class: 'item-list', testid: 'access-list', 'aria-labelledby': 'access-title' });
  const accessEmpty = h('p', { class: 'empty', hidden: true, testid: 'access-empty' },
    'No one else has read your messages. Only you and the people you write with have seen them.');
  const accessMore = moreButton('Show earlier accesses', () => loadAccess(true));
  accessMore.dataset.testid = 'access-more';
  const accessSection = isPatient ? h('section', { class: 'privacy-section', 'aria-labelledby': 'access-title' },
    h('h2', { id: 'access-title', class: 'section-title' }, 'Who accessed my messages'),
    h('p', { class: 'hint' },
      'Every time someone other than you and the person you wrote with looked at your messages, for example a Healing Space administrator, newest first.'),
    accessList, accessEmpty, accessMore) : null;

  const el = h('section', { class: 'view privacy-view', 'aria-labelledby': 'privacy-title' },
    viewHeading('Privacy', 'privacy-title'),
    h('p', { class: 'view-intro' }, 'Who can write to you, a copy of your messages', isPatient ? ', and who has looked at them.' : '.'),
    blockedSection, exportSection, accessSection);

  let blockedSeq = 0;
  async function loadBlocked() {
    const mine = ++blockedSeq;
    blockedList.setAttribute('aria-busy', 'true');
    try {
      const { blocked } = await ctx.api.blocked();
      if (mine !== blockedSeq) return;
      const rows = Array.isArray(blocked) ? blocked : [];
      blockedList.replaceChildren(...rows.map(blockedItem));
      blockedEmpty.hidden = rows.length > 0;
    } catch (error) {
      if (mine === blockedSeq) ctx.showError(error);
    } finally {
      if (mine === blockedSeq) blockedList.removeAttribute('aria-busy');
    }
  }

  function blockedItem(b) {
    const name = b.display_name || b.username;
    const li = h('li', { class: 'blocked-item', testid: 'blocked-item', dataset: { username: b.username } },
      h('div', { class: 'blocked-main' },
        h('span', { class: 'item-name', testid: 'blocked-name' }, name),
        h('span', { class: 'muted' }, `@${b.username}`),
        b.blocked_at ? h('span', { class: 'item-time' }, 'Blocked ', timeEl(b.blocked_at)) : null));
    const unblock = h('button', {
      type: 'button', class: 'btn btn-quiet btn-small', testid: 'unblock', 'aria-label': `Unblock ${name}`,
      dataset: { username: b.username },
      onclick: async () => {
        unblock.disabled = true;
        ctx.clearError();
        try {
          await ctx.api.unblock(b.username);
        } catch (error) {
          unblock.disabled = false;
          ctx.showError(error, { action: 'unblock', focus: true });
          return;
        }
        const next = li.nextElementSibling || li.previousElementSibling;
        li.remove();
        blockedEmpty.hidden = blockedList.children.length > 0;
        ctx.announce(`You unblocked ${name}. You can write to each other again.`);
        const target = next && next.querySelector('[data-testid="unblock"]');
        (target || blockedSection.querySelector('.section-title')).focus();
      },
    }, 'Unblock');
    li.append(h('div', { class: 'row-actions' }, unblock));
    return li;
  }

  const loadAccess = pagedLoader({
    list: accessList, empty: accessEmpty, more: accessMore,
    fetchPage: (cursor) => ctx.api.accessLog(cursor),
    rows: (page) => page.entries,
    render: (entry) => accessItem(entry),
    showError: (error) => ctx.showError(error, { action: 'access-log' }),
  });

  function accessItem(e) {
    const ids = Array.isArray(e.message_ids) ? e.message_ids : [];
    const who = e.actor || 'Someone';
    return h('li', { class: 'access-item', testid: 'access-entry', dataset: { action: e.action || '', actor: e.actor || '' } },
      h('p', { class: 'access-when' }, exactTime(e.occurred_at, { 'data-testid': 'access-time' })),
      h('p', { class: 'access-what', testid: 'access-what' },
        h('span', { class: 'item-name', testid: 'access-actor' }, who), ' ',
        h('span', { class: 'sr-only' }, '('),
        h('span', { class: 'role-tag', testid: 'access-role' }, roleLabel(e.role) || 'Unknown role'),
        h('span', { class: 'sr-only' }, ')'), ' ',
        h('span', { testid: 'access-action' }, actionWords(e.action)),
        ids.length ? [' (', h('span', { testid: 'access-count' }, messagesWords(ids.length)), ')'] : null, '.'),
      h('p', { class: 'hint' }, `${who} is ${roleWords(e.role)}.`));
  }

  function refresh() {
    loadBlocked();
    if (isPatient) loadAccess(false);
  }

  refresh();
  return { el, refresh };
}
