// Auditors send and receive no messages; they read the audit log (GET /api/audit/log).
import { h, timeEl, viewHeading, moreButton } from '../dom.js';

export function auditorView(ctx) {
  const list = h('ul', { class: 'item-list audit-list', testid: 'audit-list', 'aria-labelledby': 'audit-title' });
  const empty = h('p', { class: 'empty', hidden: true }, 'The audit log is empty.');
  const more = moreButton('Show more', () => load(true));
  const el = h('section', { class: 'view', 'aria-labelledby': 'audit-title' },
    viewHeading('Audit log', 'audit-title'),
    h('p', { class: 'view-intro' }, 'Recorded message events, oldest first.'),
    list, empty, more);
  let cursor = null;

  async function load(append = false) {
    more.disabled = true;
    try {
      const page = await ctx.api.auditLog(append ? cursor : undefined);
      const items = page.entries.map((e) => h('li', { class: 'audit-item', testid: 'audit-entry' },
        h('span', { class: 'item-top' },
          h('span', { class: 'item-name' }, e.action),
          h('span', { class: 'item-time' }, timeEl(e.occurred_at))),
        h('span', { class: 'item-preview' }, `by ${e.actor}`, e.message_id ? ` · message ${e.message_id}` : '')));
      if (append) list.append(...items); else list.replaceChildren(...items);
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
      empty.hidden = list.children.length > 0;
    } catch (error) {
      ctx.showError(error);
    } finally {
      more.disabled = false;
    }
  }

  load();
  return { el, refresh: () => load(false) };
}
