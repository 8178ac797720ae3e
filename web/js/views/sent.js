// Sent: the caller's sent messages with "✓ Sent" / "✓✓ Read" and the read time; a live `read`
// event turns a shown row to "✓✓ Read" in place (markRead). An erased message says so instead
// of its subject and text.
import { h, pagedLoader, timeEl, viewHeading, moreButton, readStatus, isErased, erasedNote } from '../dom.js';

export function sentView(ctx) {
  const list = h('ul', { class: 'item-list', testid: 'sent-list', 'aria-labelledby': 'sent-title' });
  const empty = h('p', { class: 'empty', hidden: true }, 'You have not sent any messages yet.');
  const more = moreButton('Show older messages', () => load(true));
  const el = h('section', { class: 'view', 'aria-labelledby': 'sent-title' },
    viewHeading('Sent', 'sent-title'), list, empty, more);
  const load = pagedLoader({
    list, empty, more,
    fetchPage: (cursor) => ctx.api.sent(cursor),
    rows: (page) => page.messages,
    render: (row) => item(row),
    showError: (error) => ctx.showError(error),
  });

  function item(m) {
    const erased = isErased(m);
    const open = h('button', {
      type: 'button', class: 'item-button', testid: 'sent-item',
      dataset: { messageId: m.message_id, recipient: m.recipient, ...(erased ? { erased: 'true' } : {}) },
      onclick: () => ctx.openThread(m.recipient, { opener: open }),
    },
    h('span', { class: 'item-top' },
      h('span', { class: 'item-name' }, 'To ', m.recipient),
      h('span', { class: 'item-time' }, timeEl(m.sent_at))),
    erased ? null : h('span', { class: 'item-subject' }, m.subject || '(no subject)'),
    erased ? erasedNote('span', { className: 'item-preview' }) : h('span', { class: 'item-preview' }, m.content),
    h('span', { class: 'item-status' }, readStatus(m, 'sent-status')));
    return h('li', {}, open);
  }

  /** Marks the shown row of `messageId` read, in place (nothing when it is not on the page). */
  function markRead(messageId, readAt) {
    const row = [...list.querySelectorAll('[data-testid="sent-item"]')].find((b) => b.dataset.messageId === messageId);
    const status = row && row.querySelector('.item-status');
    if (!status || status.querySelector('.status-read')) return;
    status.replaceChildren(readStatus({ is_read: true, read_at: readAt || null }, 'sent-status'));
  }

  load();
  return { el, refresh: () => load(false), markRead };
}
