// Inbox: one entry per counterpart, newest activity first, with per-conversation unread badges.
import { h, pagedLoader, timeEl, viewHeading, moreButton, roleLabel } from '../dom.js';

export function inboxView(ctx) {
  const list = h('ul', { class: 'item-list', testid: 'conversation-list', 'aria-labelledby': 'inbox-title' });
  const empty = h('p', { class: 'empty', hidden: true }, 'No conversations yet. When someone writes to you, it will appear here.');
  const more = moreButton('Show older conversations', () => load(true));
  const el = h('section', { class: 'view', 'aria-labelledby': 'inbox-title' },
    viewHeading('Inbox', 'inbox-title'), list, empty, more);
  const load = pagedLoader({
    list, empty, more,
    fetchPage: (cursor) => ctx.api.inbox(cursor),
    rows: (page) => page.conversations,
    render: (row) => item(row),
    onFirstPage: (page) => ctx.setUnread(page.total_unread),
    showError: (error) => ctx.showError(error),
  });

  function item(c) {
    const me = ctx.user.username;
    const last = c.last_message || {};
    const name = c.display_name || c.with;
    const unread = c.unread_count > 0;
    const button = h('button', {
      type: 'button', class: `item-button${unread ? ' is-unread' : ''}`, testid: 'conversation-item',
      dataset: { with: c.with },
      onclick: () => ctx.openThread(c.with, { opener: button, label: name }),
    },
    h('span', { class: 'item-top' },
      h('span', { class: 'item-name' }, name),
      c.with_role ? h('span', { class: 'role-tag' }, roleLabel(c.with_role)) : null,
      unread ? h('span', { class: 'badge', testid: 'conversation-unread' },
        String(c.unread_count), h('span', { class: 'sr-only' }, ' unread')) : null,
      h('span', { class: 'item-time' }, timeEl(c.last_activity_at || last.sent_at))),
    h('span', { class: 'item-subject' }, last.subject || '(no subject)'),
    h('span', { class: 'item-preview' }, last.sender === me ? 'You: ' : '', last.preview || ''));
    return h('li', {}, button);
  }

  load();
  return { el, refresh: () => load(false) };
}
