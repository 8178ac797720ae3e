// Admin: hidden (deleted by both sides) messages, each with a Restore button.
import { h, pagedLoader, timeEl, viewHeading, moreButton } from '../dom.js';

export function adminView(ctx) {
  const list = h('ul', { class: 'item-list', testid: 'admin-deleted-list', 'aria-labelledby': 'deleted-title' });
  const empty = h('p', { class: 'empty', hidden: true }, 'There are no deleted messages.');
  const more = moreButton('Show more', () => load(true));
  const el = h('section', { class: 'view', 'aria-labelledby': 'deleted-title' },
    viewHeading('Deleted messages', 'deleted-title'),
    h('p', { class: 'view-intro' }, 'Messages that both participants deleted. Restoring makes a message visible to both again.'),
    list, empty, more);
  const load = pagedLoader({
    list, empty, more,
    fetchPage: (cursor) => ctx.api.deletedMessages(cursor),
    rows: (page) => page.messages,
    render: (row) => item(row),
    showError: (error) => ctx.showError(error),
  });

  function item(m) {
    const restore = h('button', {
      type: 'button', class: 'btn btn-primary btn-small', testid: 'restore-button',
      'aria-label': `Restore message${m.subject ? ` “${m.subject}”` : ''} from ${m.sender} to ${m.recipient}`,
      onclick: doRestore,
    }, 'Restore');
    const li = h('li', { class: 'deleted-item', testid: 'admin-deleted-item', dataset: { messageId: m.message_id } },
      h('div', { class: 'deleted-main' },
        h('span', { class: 'item-name' }, m.sender, ' → ', m.recipient),
        h('span', { class: 'item-subject' }, m.subject || '(no subject)'),
        h('span', { class: 'item-time' }, 'Sent ', timeEl(m.sent_at), ' · deleted ', timeEl(m.deleted_at))),
      restore);

    async function doRestore() {
      restore.disabled = true;
      ctx.clearError();
      try {
        await ctx.api.restoreMessage(m.message_id);
      } catch (error) {
        restore.disabled = false;
        ctx.showError(error, { action: 'restore', focus: true });
        return;
      }
      const next = li.nextElementSibling || li.previousElementSibling;
      li.remove();
      empty.hidden = list.children.length > 0;
      ctx.announce('Message restored.');
      const focusTarget = next && next.querySelector('button');
      (focusTarget || el.querySelector('.view-title')).focus();
    }
    return li;
  }

  load();
  return { el, refresh: () => load(false) };
}
