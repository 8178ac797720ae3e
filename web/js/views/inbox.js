// Inbox: one entry per counterpart, newest activity first, with per-conversation unread badges.
// Filters (API.md, "Patient controls"): "Inbox" or "Archived" conversations, and "Unread only";
// they combine. Each row has "Archive" (or, among the archived, "Move to inbox") beside it; an
// archived conversation comes back to the inbox by itself when the other person writes again.
// When the last message was erased by an administrator, the row says so instead of a preview.
import { h, pagedLoader, timeEl, viewHeading, moreButton, roleLabel, isErased, erasedNote } from '../dom.js';

const EMPTY = {
  'current,all': 'No conversations yet. When someone writes to you, it will appear here.',
  'current,unread': 'You have no unread messages in your inbox.',
  'archived,all': 'You have no archived conversations. “Archive” moves a conversation here; it comes back when the other person writes again.',
  'archived,unread': 'You have no unread messages in your archived conversations.',
};

const SUMMARY = {
  'current,all': '',
  'current,unread': 'Showing conversations in your inbox with unread messages.',
  'archived,all': 'Showing archived conversations. A new message brings a conversation back to your inbox.',
  'archived,unread': 'Showing archived conversations with unread messages.',
};

export function inboxView(ctx) {
  const filters = { archived: false, unreadOnly: false };
  const key = () => `${filters.archived ? 'archived' : 'current'},${filters.unreadOnly ? 'unread' : 'all'}`;

  const list = h('ul', { class: 'item-list', testid: 'conversation-list', 'aria-labelledby': 'inbox-title' });
  const empty = h('p', { class: 'empty', hidden: true, testid: 'inbox-empty' }, EMPTY['current,all']);
  const more = moreButton('Show older conversations', () => load(true));

  const showCurrent = h('input', {
    type: 'radio', name: 'inbox-show', id: 'inbox-show-current', value: 'current', checked: true,
    testid: 'inbox-show-current', onchange: () => setFilter({ archived: false }),
  });
  const showArchived = h('input', {
    type: 'radio', name: 'inbox-show', id: 'inbox-show-archived', value: 'archived',
    testid: 'inbox-show-archived', onchange: () => setFilter({ archived: true }),
  });
  const unreadOnly = h('input', {
    type: 'checkbox', id: 'inbox-unread-only', testid: 'inbox-unread-only',
    onchange: () => setFilter({ unreadOnly: unreadOnly.checked }),
  });
  const summary = h('p', { class: 'filter-summary', role: 'status', testid: 'inbox-filter-summary' });
  const toolbar = h('div', { class: 'list-filters', testid: 'inbox-filters' },
    h('fieldset', { class: 'segmented' },
      h('legend', { class: 'sr-only' }, 'Show'),
      h('span', { class: 'segment' }, showCurrent, h('label', { for: 'inbox-show-current' }, 'Inbox')),
      h('span', { class: 'segment' }, showArchived, h('label', { for: 'inbox-show-archived' }, 'Archived'))),
    h('span', { class: 'check-field' }, unreadOnly, h('label', { for: 'inbox-unread-only' }, 'Unread only')));

  const el = h('section', { class: 'view', 'aria-labelledby': 'inbox-title' },
    viewHeading('Inbox', 'inbox-title'), toolbar, summary, list, empty, more);
  const load = pagedLoader({
    list, empty, more,
    fetchPage: (cursor) => ctx.api.inbox(cursor, filters),
    rows: (page) => page.conversations,
    render: (row) => item(row),
    onFirstPage: (page) => {
      // The badge counts every unread message: a filtered list asks for the total itself.
      if (!filters.archived && !filters.unreadOnly) ctx.setUnread(page.total_unread);
      else ctx.refreshUnread();
      summary.textContent = SUMMARY[key()];
      el.dataset.filter = key();
    },
    showError: (error) => ctx.showError(error),
  });

  function setFilter(change) {
    Object.assign(filters, change);
    empty.textContent = EMPTY[key()];
    ctx.clearError();
    load(false);
  }

  function item(c) {
    const me = ctx.user.username;
    const last = c.last_message || {};
    const name = c.display_name || c.with;
    const unread = c.unread_count > 0;
    const archived = filters.archived;
    const button = h('button', {
      type: 'button', class: `item-button${unread ? ' is-unread' : ''}`, testid: 'conversation-item',
      dataset: { with: c.with },
      onclick: () => ctx.openThread(c.with, { opener: button, label: name, archived }),
    },
    h('span', { class: 'item-top' },
      h('span', { class: 'item-name' }, name),
      c.with_role ? h('span', { class: 'role-tag' }, roleLabel(c.with_role)) : null,
      archived ? h('span', { class: 'state-tag state-archived' }, 'Archived') : null,
      unread ? h('span', { class: 'badge', testid: 'conversation-unread' },
        String(c.unread_count), h('span', { class: 'sr-only' }, ' unread')) : null,
      h('span', { class: 'item-time' }, timeEl(c.last_activity_at || last.sent_at))),
    isErased(last) ? null : h('span', { class: 'item-subject' }, last.subject || '(no subject)'),
    isErased(last)
      ? h('span', { class: 'item-preview' }, last.sender === me ? 'You: ' : '', erasedNote('span'))
      : h('span', { class: 'item-preview' }, last.sender === me ? 'You: ' : '', last.preview || ''));
    const li = h('li', { class: 'conversation-row', dataset: { with: c.with } }, button);
    const move = h('button', {
      type: 'button', class: 'btn btn-quiet btn-small', testid: archived ? 'conversation-unarchive' : 'conversation-archive',
      dataset: { with: c.with },
      'aria-label': archived ? `Move the conversation with ${name} back to your inbox` : `Archive the conversation with ${name}`,
      onclick: (event) => moveConversation(event.currentTarget, li, c.with, name, archived),
    }, archived ? 'Move to inbox' : 'Archive');
    li.append(h('div', { class: 'row-actions' }, move));
    return li;
  }

  /** Archives (or brings back) a conversation: its row leaves this list; focus goes to the next one. */
  async function moveConversation(button, li, username, name, archived) {
    button.disabled = true;
    ctx.clearError();
    try {
      if (archived) await ctx.api.unarchive(username);
      else await ctx.api.archive(username);
    } catch (error) {
      button.disabled = false;
      ctx.showError(error, { action: 'archive', focus: true });
      return;
    }
    const next = li.nextElementSibling || li.previousElementSibling;
    li.remove();
    empty.hidden = list.children.length > 0;
    ctx.announce(archived
      ? `The conversation with ${name} is back in your inbox.`
      : `The conversation with ${name} is archived. It comes back to your inbox when ${name} writes to you.`);
    const target = next && next.querySelector('[data-testid="conversation-item"]');
    (target || el.querySelector('.view-title')).focus();
  }

  load();
  return { el, refresh: () => load(false) };
}
