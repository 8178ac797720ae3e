// Search: highlighted snippets (only <mark> from the server becomes markup); a result opens the
// thread with the counterpart. An erased message (should one ever match) says so, without text.
import { h, timeEl, viewHeading, moreButton, renderSnippet, isErased, erasedNote } from '../dom.js';

export function searchView(ctx) {
  const input = h('input', {
    id: 'search-input', name: 'q', type: 'search', required: true, maxlength: '200',
    autocomplete: 'off', testid: 'search-input',
  });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'search-submit' }, 'Search');
  const form = h('form', { class: 'search-form', role: 'search', onsubmit: onSubmit },
    h('label', { for: 'search-input' }, 'Search your messages'),
    h('div', { class: 'search-row' }, input, submit));
  const summary = h('p', { class: 'search-summary', role: 'status', testid: 'search-summary' });
  const list = h('ul', { class: 'item-list', testid: 'search-results', 'aria-label': 'Search results' });
  const more = moreButton('More results', () => load(true));
  const el = h('section', { class: 'view', 'aria-labelledby': 'search-title' },
    viewHeading('Search', 'search-title'), form, summary, list, more);

  let query = '';
  let cursor = null;
  let seq = 0;

  function onSubmit(event) {
    event.preventDefault();
    if (!form.reportValidity()) return;
    query = input.value.trim();
    if (!query) return;
    load(false);
  }

  async function load(append) {
    const mine = ++seq;
    list.setAttribute('aria-busy', 'true');
    submit.disabled = true;
    more.disabled = true;
    ctx.clearError();
    if (!append) summary.textContent = 'Searching…';
    try {
      const page = await ctx.api.search(query, append ? cursor : undefined);
      if (mine !== seq) return;
      const items = page.results.map(item);
      if (append) list.append(...items); else list.replaceChildren(...items);
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
      const n = list.children.length;
      summary.textContent = n === 0
        ? `No messages match “${query}”.`
        : `${n}${cursor ? '+' : ''} message${n === 1 ? '' : 's'} match “${query}”.`;
    } catch (error) {
      if (mine === seq) {
        summary.textContent = '';
        ctx.showError(error);
      }
    } finally {
      if (mine === seq) {
        list.removeAttribute('aria-busy');
        submit.disabled = false;
        more.disabled = false;
      }
    }
  }

  function item(r) {
    const me = ctx.user.username;
    const counterpart = r.sender === me ? r.recipient : r.sender;
    const who = r.sender === me ? `You to ${r.recipient}` : `From ${r.sender}`;
    const button = h('button', {
      type: 'button', class: 'item-button', testid: 'search-result',
      dataset: { messageId: r.message_id, with: counterpart },
      onclick: () => ctx.openThread(counterpart, { opener: button }),
    },
    h('span', { class: 'item-top' },
      h('span', { class: 'item-name' }, who),
      h('span', { class: 'item-time' }, timeEl(r.sent_at))),
    isErased(r) ? null : h('span', { class: 'item-subject' }, r.subject || '(no subject)'),
    isErased(r)
      ? erasedNote('span', { testid: 'search-snippet', className: 'item-preview' })
      : h('span', { class: 'item-preview snippet', testid: 'search-snippet' }, renderSnippet(r.snippet)));
    return h('li', {}, button);
  }

  return { el, refresh: () => (query ? load(false) : undefined) };
}
