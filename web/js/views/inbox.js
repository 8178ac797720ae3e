// Inbox: one entry per counterpart, newest activity first, with per-conversation unread badges.
import { h, timeEl, viewHeading, moreButton, roleLabel } from '../dom.js';

export function inboxView(ctx) {
  const list = h('ul', { class: 'item-list', testid: 'conversation-list', 'aria-labelledby': 'inbox-title' });
  const empty = h('p', { class: 'empty', hidden: true }, 'No conversations yet. When someone writes to you, it will appear here.');
  const more = moreButton('Show older conversations', () => load(true));
  const el = h('section', { class: 'view', 'aria-labelledby': 'inbox-title' },
    viewHeading('Inbox', 'inbox-title'), list, empty, more);
  let cursor = null;
  let seq = 0;

  async function load(append = false) {
    const mine = ++seq;
    list.setAttribute('aria-busy', 'true');
    more.disabled = true;
    try {
      const page = await ctx.api.inbox(append ? cursor : undefined);
      if (mine !== seq) return;
      const items = page.conversations.map(item);
      if (append) list.append(...items); else list.replaceChildren(...items);
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
      empty.hidden = list.children.length > 0;
      if (!append) ctx.setUnread(page.total_unread);
    } catch (error) {
      if (mine === seq) ctx.showError(error);
    } finally {
      if (mine === seq) {
        list.removeAttribute('aria-busy');
        more.disabled = false;
      }
    }
  }

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
