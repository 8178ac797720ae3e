// Admin: messages by their id, and the hidden ones.
// - "A message by its id": administrators can't read messages, so they take the id from a ticket
//   or the audit trail, then erase the message for good or place / release a legal hold.
// - "Deleted messages": the hidden ones (deleted by both sides), each with Restore, "Erase…" and
//   the legal-hold control, and its state (erased, held).
// Erasing and holds ask for a reason (kept in the audit trail) in a panel that says what the
// action does; erasing says, before it is done, that it cannot be undone.
import { h, uid, pagedLoader, timeEl, viewHeading, moreButton, isErased, erasedNote } from '../dom.js';
import { messageIdProblem } from '../audit-words.js';

const REASON_MAX = 500;

// The three actions that need a reason: what the panel asks, says and offers.
const ACTIONS = {
  erase: {
    question: (what) => `Erase ${what} for good?`,
    points: [
      'Its subject and text are destroyed for everyone. This cannot be undone, not even by an administrator.',
      'Both people see “This message was erased by an administrator” in its place.',
      'The audit trail keeps that you erased it, and your reason.',
    ],
    confirm: 'Erase for good',
    danger: true,
  },
  hold: {
    question: (what) => `Place a legal hold on ${what}?`,
    points: [
      'While the hold is in place, the message cannot be erased, by an administrator or by retention.',
      'You can release the hold later. Both are kept in the audit trail with your reason.',
    ],
    confirm: 'Place hold',
    danger: false,
  },
  release: {
    question: (what) => `Release the legal hold on ${what}?`,
    points: ['After that, the message can be erased again, and retention applies to it.'],
    confirm: 'Release hold',
    danger: false,
  },
};

/**
 * A panel that asks for a reason and confirms `action` on the message described by `what`:
 * `onConfirm(reason)` runs the action (it answers whether the panel may close); `onCancel()`
 * closes it. Escape cancels. `focus()` moves to the reason field, which the panel's words describe.
 */
function reasonPanel(action, what, { testid, onConfirm, onCancel }) {
  const words = ACTIONS[action];
  const qid = uid('reason-question');
  const pid = uid('reason-points');
  const rid = uid('reason');
  const hid = uid('reason-hint');
  const reason = h('input', {
    id: rid, name: 'reason', type: 'text', required: true, maxlength: String(REASON_MAX), autocomplete: 'off',
    testid: 'reason-input', 'aria-describedby': `${pid} ${hid}`,
  });
  const confirm = h('button', {
    type: 'submit', class: `btn ${words.danger ? 'btn-danger' : 'btn-primary'} btn-small`, testid: 'reason-confirm',
  }, words.confirm);
  const cancel = h('button', { type: 'button', class: 'btn btn-quiet btn-small', testid: 'reason-cancel', onclick: () => onCancel() }, 'Cancel');
  const form = h('form', {
    class: `confirm-panel reason-panel${words.danger ? ' is-danger' : ''}`, 'aria-labelledby': qid, testid,
    dataset: { action }, onsubmit: submit,
  },
  h('p', { id: qid, class: 'confirm-question', tabindex: '-1' }, words.question(what)),
  h('ul', { id: pid, class: 'confirm-points' }, words.points.map((p) => h('li', {}, p))),
  h('div', { class: 'field' },
    h('label', { for: rid }, 'Reason'), reason,
    h('p', { id: hid, class: 'hint' }, `Kept in the audit trail. One line, up to ${REASON_MAX} characters.`)),
  h('div', { class: 'form-actions' }, confirm, cancel));
  reason.addEventListener('input', () => reason.setCustomValidity(''));
  form.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') { event.preventDefault(); event.stopPropagation(); onCancel(); }
  });

  async function submit(event) {
    event.preventDefault();
    reason.setCustomValidity(reason.value.trim() ? '' : 'Please give a reason.');
    if (!form.reportValidity()) return;
    confirm.disabled = true;
    cancel.disabled = true;
    try {
      await onConfirm(reason.value.trim());
    } finally {
      confirm.disabled = false;
      cancel.disabled = false;
    }
  }
  return { el: form, focus: () => reason.focus() };
}

const holdAction = (held) => (held ? 'release' : 'hold');

/** Replaces `el`'s children as h() adds them (nested lists flattened, null and false skipped). */
const fill = (el, ...children) => el.replaceChildren(...h('span', {}, ...children).childNodes);

export function adminView(ctx) {
  // ---- A message by its id ---------------------------------------------------------------------
  const idInput = h('input', {
    id: 'admin-message-id', name: 'message_id', type: 'text', required: true, maxlength: '40',
    autocomplete: 'off', spellcheck: 'false', testid: 'admin-message-id', 'aria-describedby': 'admin-message-id-hint',
  });
  idInput.addEventListener('input', () => idInput.setCustomValidity(''));
  const byIdButton = (action, label) => h('button', {
    type: 'button', class: `btn ${action === 'erase' ? 'btn-danger' : 'btn-quiet'}`, testid: `by-id-${action}`,
    onclick: () => openByIdPanel(action),
  }, label);
  const byIdActions = h('div', { class: 'form-actions', role: 'group', 'aria-label': 'Actions on this message' },
    byIdButton('erase', 'Erase…'), byIdButton('hold', 'Place legal hold…'), byIdButton('release', 'Release legal hold…'));
  const byIdResult = h('p', { class: 'result-note admin-result', tabindex: '-1', hidden: true, testid: 'by-id-result' });
  const byIdSlot = h('div', {});
  // The panel (a form of its own) comes after the id's form, not inside it.
  const byIdForm = h('div', { class: 'card stack admin-tools', role: 'group', 'aria-labelledby': 'by-id-title', testid: 'admin-by-id' },
    h('h2', { id: 'by-id-title', class: 'card-title' }, 'A message by its id'),
    // Enter in the id field does nothing: each action is chosen by its button.
    h('form', { class: 'stack', onsubmit: (event) => event.preventDefault() },
      h('div', { class: 'field' },
        h('label', { for: 'admin-message-id' }, 'Message id'), idInput,
        h('p', { id: 'admin-message-id-hint', class: 'hint' },
          'Administrators can’t read messages: copy the id from the support ticket or from the audit trail.')),
      byIdActions),
    byIdSlot, byIdResult);

  let byIdPanel = null;
  let byIdOpener = null;

  function openByIdPanel(action) {
    const id = idInput.value.trim();
    idInput.value = id;
    idInput.setCustomValidity(id ? messageIdProblem(id) : 'Please enter the message id.');
    if (!idInput.reportValidity()) return;
    closeByIdPanel(false);
    ctx.clearError();
    byIdResult.hidden = true;
    byIdOpener = byIdActions.querySelector(`[data-testid="by-id-${action}"]`);
    byIdPanel = reasonPanel(action, `message ${id}`, {
      testid: 'by-id-panel',
      onCancel: () => closeByIdPanel(true),
      onConfirm: (reason) => runByIdAction(action, id, reason),
    });
    idInput.readOnly = true;
    byIdActions.hidden = true;
    byIdSlot.replaceChildren(byIdPanel.el);
    byIdPanel.focus();
  }

  function closeByIdPanel(returnFocus) {
    byIdSlot.replaceChildren();
    byIdPanel = null;
    idInput.readOnly = false;
    byIdActions.hidden = false;
    if (returnFocus && byIdOpener) byIdOpener.focus();
  }

  async function runByIdAction(action, id, reason) {
    ctx.clearError();
    let answer;
    try {
      answer = action === 'erase'
        ? await ctx.api.eraseMessage(id, reason)
        : await ctx.api.setHold(id, action === 'hold', reason);
    } catch (error) {
      // Invalid input keeps the panel (and the reason) to correct; anything else closes it.
      if (error.code !== 'invalid_input') closeByIdPanel(false);
      ctx.showError(error, { action: action === 'erase' ? 'erase' : 'hold', focus: true });
      return;
    }
    closeByIdPanel(false);
    const done = action === 'erase'
      ? ['Message ', id, ' was erased ', timeEl(answer && answer.erased_at), '. Its subject and text are gone for good.']
      : ['The legal hold on message ', id, answer && answer.held ? ' is in place.' : ' is released.'];
    byIdResult.dataset.action = action;
    fill(byIdResult, done);
    byIdResult.hidden = false;
    byIdResult.focus();
    ctx.announce(action === 'erase' ? 'Message erased.' : (answer && answer.held ? 'Legal hold placed.' : 'Legal hold released.'));
    load(false); // the message may be in the list below
  }

  // ---- Deleted messages ----------------------------------------------------------------------
  const list = h('ul', { class: 'item-list', testid: 'admin-deleted-list', 'aria-labelledby': 'deleted-title' });
  const empty = h('p', { class: 'empty', hidden: true }, 'There are no deleted messages.');
  const more = moreButton('Show more', () => load(true));
  const el = h('section', { class: 'view', 'aria-labelledby': 'admin-title' },
    viewHeading('Messages', 'admin-title'),
    h('p', { class: 'view-intro' }, 'Erase a message for good, or place a legal hold that keeps it from being erased. Restore messages that both participants deleted.'),
    byIdForm,
    h('h2', { id: 'deleted-title', class: 'section-title' }, 'Deleted messages'),
    h('p', { class: 'hint' }, 'Messages that both participants deleted. Restoring makes a message visible to both again.'),
    list, empty, more);
  const load = pagedLoader({
    list, empty, more,
    fetchPage: (cursor) => ctx.api.deletedMessages(cursor),
    rows: (page) => page.messages,
    render: (row) => item(row),
    showError: (error) => ctx.showError(error),
  });

  function item(m) {
    const state = { erased: isErased(m), erasedAt: m.erased_at || null, held: Boolean(m.held) };
    const between = `from ${m.sender} to ${m.recipient}`;
    const named = () => (!state.erased && m.subject ? `message “${m.subject}” ${between}` : `the message ${between}`);

    const restore = h('button', {
      type: 'button', class: 'btn btn-primary btn-small', testid: 'restore-button', onclick: doRestore,
    }, 'Restore');
    const erase = h('button', {
      type: 'button', class: 'btn btn-quiet btn-small', testid: 'erase-button', onclick: () => openPanel('erase', erase),
    }, 'Erase…');
    const hold = h('button', {
      type: 'button', class: 'btn btn-quiet btn-small', testid: 'hold-button',
      onclick: () => openPanel(holdAction(state.held), hold),
    });
    const actions = h('div', { class: 'deleted-actions' }, restore, erase, hold);
    const tags = h('span', { class: 'deleted-tags' });
    const subject = h('span', { class: 'item-subject' });
    const when = h('span', { class: 'item-time' });
    const li = h('li', { class: 'deleted-item', testid: 'admin-deleted-item', dataset: { messageId: m.message_id } },
      h('div', { class: 'deleted-main' },
        h('span', { class: 'item-name' }, m.sender, ' → ', m.recipient, ' ', tags),
        subject, when),
      actions);
    let panel = null;

    function render() {
      fill(tags,
        state.erased ? h('span', { class: 'state-tag state-erased', testid: 'erased-tag' }, 'Erased') : null,
        state.held ? h('span', { class: 'state-tag state-held', testid: 'held-tag' }, 'Legal hold') : null);
      fill(subject, state.erased ? erasedNote('span') : (m.subject || '(no subject)'));
      fill(when, 'Sent ', timeEl(m.sent_at), ' · deleted ', timeEl(m.deleted_at),
        state.erasedAt ? [' · erased ', timeEl(state.erasedAt)] : null);
      li.dataset.erased = state.erased ? 'true' : 'false';
      li.dataset.held = state.held ? 'true' : 'false';
      restore.setAttribute('aria-label', `Restore ${named()}`);
      erase.hidden = state.erased;
      erase.setAttribute('aria-label', `Erase ${named()}…`);
      hold.textContent = state.held ? 'Release hold…' : 'Legal hold…';
      hold.setAttribute('aria-label', `${state.held ? 'Release the legal hold on' : 'Place a legal hold on'} ${named()}…`);
    }

    function openPanel(action, opener) {
      ctx.clearError();
      closePanel(null);
      panel = reasonPanel(action, named(), {
        testid: 'item-reason-panel',
        onCancel: () => closePanel(opener),
        onConfirm: (reason) => runAction(action, reason, opener),
      });
      actions.hidden = true;
      li.append(panel.el);
      panel.focus();
    }

    function closePanel(focusTo) {
      if (panel) panel.el.remove();
      panel = null;
      actions.hidden = false;
      if (focusTo) (focusTo.hidden ? hold : focusTo).focus();
    }

    async function runAction(action, reason, opener) {
      ctx.clearError();
      let answer;
      try {
        answer = action === 'erase'
          ? await ctx.api.eraseMessage(m.message_id, reason)
          : await ctx.api.setHold(m.message_id, action === 'hold', reason);
      } catch (error) {
        if (error.code !== 'invalid_input') closePanel(null);
        ctx.showError(error, { action: action === 'erase' ? 'erase' : 'hold', focus: true });
        return;
      }
      if (action === 'erase') {
        state.erased = true;
        state.erasedAt = (answer && answer.erased_at) || new Date().toISOString();
      } else {
        state.held = Boolean(answer && answer.held);
      }
      render();
      closePanel(opener);
      ctx.announce(action === 'erase' ? 'Message erased.' : (state.held ? 'Legal hold placed.' : 'Legal hold released.'));
    }

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

    render();
    return li;
  }

  load();
  return { el, refresh: () => load(false) };
}
