// Recipient suggestions under a "To" field: a WAI-ARIA 1.2 combobox (list autocomplete) over
// GET /api/messages/search-recipients. Help, not a gate: the person may still type a username by
// hand, and a failed lookup leaves the field working as a plain text field (no error banner).
//
// - Looks up the trimmed text 200 ms after the last keystroke; never for a blank text or one over
//   64 characters (the API's bounds); an answer that a newer keystroke has overtaken is dropped.
// - ArrowDown / ArrowUp move through the list (opening it when closed), Enter picks the active
//   option, Escape closes the list, Tab or leaving the field closes it; a click picks. Picking
//   puts the username into the field and closes the list. Focus stays in the field throughout.
import { h, uid, roleLabel } from './dom.js';

const DEBOUNCE_MS = 200;
const MAX_QUERY_CHARS = 64;

/**
 * Turns `input` into a combobox. Returns `{ el, close }`: `el` wraps the input and its list (put it
 * where the input would go); `onPick(username)` runs after an option is picked.
 */
export function recipientCombobox(ctx, input, { onPick } = {}) {
  const listId = uid('recipient-listbox');
  const list = h('ul', {
    id: listId, class: 'suggestions', role: 'listbox', hidden: true, testid: 'recipient-suggestions',
    'aria-label': 'Suggested recipients',
    // Keeps focus in the field while the mouse picks an option.
    onmousedown: (event) => event.preventDefault(),
  });
  const status = h('p', { class: 'sr-only', role: 'status', testid: 'recipient-suggestions-status' });
  input.setAttribute('role', 'combobox');
  input.setAttribute('aria-autocomplete', 'list');
  input.setAttribute('aria-expanded', 'false');
  input.setAttribute('aria-controls', listId);

  let timer = null;
  let seq = 0;
  let options = []; // the shown <li role="option"> elements
  let active = -1;
  let last = { text: null, users: [] }; // the newest answer, for ArrowDown on a closed list

  const queryText = () => input.value.trim();
  const askable = (text) => text.length > 0 && text.length <= MAX_QUERY_CHARS;

  function cancel() {
    clearTimeout(timer);
    timer = null;
    seq += 1; // an answer still on its way is dropped
  }

  function close() {
    list.hidden = true;
    list.replaceChildren();
    options = [];
    active = -1;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
    status.textContent = '';
  }

  /** Shows `users`; `activate` ('first' or 'last') also makes that option the active one. */
  function show(users, activate = null) {
    if (users.length === 0 || document.activeElement !== input) {
      close();
      return;
    }
    options = users.map((user) => h('li', {
      id: uid('recipient-option'), class: 'suggestion', role: 'option', 'aria-selected': 'false',
      testid: 'recipient-option', dataset: { username: user.username },
      onclick: () => pick(user.username),
    },
    h('span', { class: 'suggestion-name' }, user.display_name || user.username), ' ',
    h('span', { class: 'suggestion-username muted', testid: 'recipient-option-username' }, `@${user.username}`), ' ',
    h('span', { class: 'role-tag', testid: 'recipient-option-role' }, roleLabel(user.role))));
    active = -1;
    list.replaceChildren(...options);
    list.hidden = false;
    input.setAttribute('aria-expanded', 'true');
    input.removeAttribute('aria-activedescendant');
    const n = users.length;
    status.textContent = `${n} suggestion${n === 1 ? '' : 's'}. Use the up and down arrow keys to choose.`;
    if (activate) setActive(activate === 'first' ? 0 : options.length - 1);
  }

  function setActive(index) {
    if (active >= 0 && options[active]) options[active].setAttribute('aria-selected', 'false');
    active = index;
    const option = options[active];
    if (!option) {
      input.removeAttribute('aria-activedescendant');
      return;
    }
    option.setAttribute('aria-selected', 'true');
    input.setAttribute('aria-activedescendant', option.id);
    if (typeof option.scrollIntoView === 'function') option.scrollIntoView({ block: 'nearest' });
  }

  function pick(username) {
    cancel();
    input.value = username;
    close();
    input.focus();
    if (onPick) onPick(username);
  }

  async function lookup(text, activate = null) {
    const mine = ++seq;
    try {
      const { users } = await ctx.api.searchRecipients(text);
      if (mine !== seq) return;
      last = { text, users: Array.isArray(users) ? users : [] };
      show(last.users, activate);
    } catch (error) {
      if (mine !== seq) return;
      close();
      // Suggestions are help only: the field keeps working; a 401 has ended the session already.
      console.debug('recipient suggestions unavailable:', error && (error.code || error.message));
    }
  }

  input.addEventListener('input', () => {
    cancel();
    const text = queryText();
    if (!askable(text)) {
      close();
      return;
    }
    timer = setTimeout(() => { timer = null; lookup(text); }, DEBOUNCE_MS);
  });

  input.addEventListener('keydown', (event) => {
    if (event.isComposing || event.altKey || event.ctrlKey || event.metaKey) return;
    const open = !list.hidden && options.length > 0;
    switch (event.key) {
      case 'ArrowDown':
      case 'ArrowUp': {
        event.preventDefault();
        if (!open) {
          // A closed list opens, with the first (ArrowDown) or last (ArrowUp) option active.
          const text = queryText();
          if (!askable(text)) return;
          const activate = event.key === 'ArrowDown' ? 'first' : 'last';
          if (last.text === text && !timer) show(last.users, activate);
          else { cancel(); lookup(text, activate); }
          return;
        }
        const step = event.key === 'ArrowDown' ? 1 : -1;
        const next = active < 0
          ? (step === 1 ? 0 : options.length - 1)
          : (active + step + options.length) % options.length;
        setActive(next);
        return;
      }
      case 'Enter':
        // Without an active option, Enter submits the form as typed.
        if (open && active >= 0) {
          event.preventDefault();
          pick(options[active].dataset.username);
        }
        return;
      case 'Escape':
        if (open || timer) {
          event.preventDefault();
          cancel();
          close();
        }
        return;
      default:
    }
  });

  input.addEventListener('blur', () => {
    cancel();
    close();
  });

  const el = h('div', { class: 'combobox' }, input, list, status);
  return { el, close: () => { cancel(); close(); } };
}
