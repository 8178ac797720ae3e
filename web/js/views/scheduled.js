// Scheduled messages (GET /api/messages/scheduled): the caller's own, the soonest first, each with
// its status in words. A pending one can be changed in place (PATCH: time, subject, message) or
// cancelled after a confirmation (DELETE); the server answers 409 once it is no longer pending,
// and the list then reloads to show what happened. While the view is shown it reloads shortly
// after the next pending message is due, so "Waiting to send" turns to "Sent" by itself.
import { h, pagedLoader, timeEl, viewHeading, moreButton } from '../dom.js';
import { sendAtInput, toLocalInputValue } from '../sendat.js';

const STATUS_WORDS = {
  pending: 'Waiting to send',
  sent: 'Sent',
  cancelled: 'Cancelled',
  failed: 'Not sent',
};

// What the row's time means, by status.
const WHEN_WORDS = { pending: 'Sends ', sent: 'Sent ', cancelled: 'Was planned for ', failed: 'Was due ' };

// The scheduler's reasons (the delivery's refusal), as people say them; the policy's own sentence
// is never shown (as errors.js does). Any other reason is shown as it comes, as a sentence.
const NOT_ALLOWED = 'When it was due, you were no longer allowed to message this person (for example, the approval had ended).';
const GONE = 'When it was due, the recipient no longer existed.';
const FAILURE_WORDS = [
  [/^(forbidden|you may not send a message to this user\.?)$/i, NOT_ALLOWED],
  [/^(not_found|user `.*` does not exist\.?)$/i, GONE],
];

/** A failure reason in words: a known reason as our sentence, else the reason itself as a sentence. */
export function failureText(failure) {
  const text = typeof failure === 'string' ? failure.trim() : '';
  if (!text) return 'It could not be delivered.';
  const known = FAILURE_WORDS.find(([pattern]) => pattern.test(text));
  if (known) return known[1];
  const words = text.includes(' ') ? text : text.replace(/[_-]+/g, ' ');
  const sentence = `${words[0].toUpperCase()}${words.slice(1)}`;
  return /[.!?]$/.test(sentence) ? sentence : `${sentence}.`;
}

const WAKE_AFTER_DUE_MS = 3_000;
const WAKE_WITHIN_MS = 60 * 60_000;

export function scheduledView(ctx) {
  const list = h('ul', { class: 'item-list', testid: 'scheduled-list', 'aria-labelledby': 'scheduled-title' });
  const empty = h('p', { class: 'empty', hidden: true, testid: 'scheduled-empty' },
    'You have no scheduled messages. In “New message”, choose “Send later” to schedule one.');
  const more = moreButton('Show later messages', () => load(true));
  const el = h('section', { class: 'view', 'aria-labelledby': 'scheduled-title' },
    viewHeading('Scheduled', 'scheduled-title'),
    h('p', { class: 'view-intro' }, 'Messages you asked to send later, the soonest first. You can change or cancel one until it is sent.'),
    list, empty, more);
  let wake = null;

  const loadPage = pagedLoader({
    list, empty, more,
    fetchPage: (cursor) => ctx.api.scheduled(cursor),
    rows: (page) => page.scheduled,
    render: (row) => item(row),
    showError: (error) => ctx.showError(error),
  });
  async function load(append = false) {
    await loadPage(append);
    planWake();
  }

  /** Reloads (while shown) a moment after the soonest shown pending message is due. */
  function planWake() {
    clearTimeout(wake);
    wake = null;
    const due = [...list.querySelectorAll('[data-testid="scheduled-item"][data-status="pending"]')]
      .map((li) => Date.parse(li.dataset.sendAt)).filter(Number.isFinite);
    if (!due.length) return;
    const wait = Math.max(0, Math.min(...due) - Date.now()) + WAKE_AFTER_DUE_MS;
    if (wait > WAKE_WITHIN_MS) return;
    wake = setTimeout(() => {
      wake = null;
      if (el.isConnected && !list.querySelector('form')) refresh();
    }, wait);
  }

  /** Reloads the first page; keyboard focus on a row's button goes to that row's counterpart. */
  async function refresh() {
    const active = document.activeElement;
    const row = active && list.contains(active) ? active.closest('[data-testid="scheduled-item"]') : null;
    const testid = active && active.dataset ? active.dataset.testid : null;
    await load(false);
    if (row && !active.isConnected) {
      const again = [...list.querySelectorAll('[data-testid="scheduled-item"]')].find((li) => li.dataset.scheduledId === row.dataset.scheduledId);
      const target = again && (again.querySelector(`[data-testid="${testid}"]`) || again.querySelector('button'));
      if (target) target.focus();
    }
  }

  function item(s) {
    const status = STATUS_WORDS[s.status] ? s.status : 'pending';
    const pending = s.status === 'pending';
    const li = h('li', {
      class: `scheduled-item is-${status}`, testid: 'scheduled-item',
      dataset: { scheduledId: s.scheduled_id, status: s.status, sendAt: s.send_at, recipient: s.recipient },
    });
    const actions = h('div', { class: 'scheduled-actions' });
    const label = `message to ${s.recipient}${s.subject ? ` “${s.subject}”` : ''}`;
    const edit = h('button', {
      type: 'button', class: 'btn btn-quiet btn-small', testid: 'scheduled-edit', 'aria-label': `Change scheduled ${label}`,
      onclick: startEdit,
    }, 'Change');
    const cancel = h('button', {
      type: 'button', class: 'btn btn-quiet btn-small', testid: 'scheduled-cancel', 'aria-label': `Cancel scheduled ${label}`,
      onclick: askConfirm,
    }, 'Cancel message');
    const open = h('button', {
      type: 'button', class: 'btn btn-quiet btn-small', testid: 'scheduled-open-thread', dataset: { with: s.recipient },
      'aria-label': `Open conversation with ${s.recipient}`,
      onclick: () => ctx.openThread(s.recipient, { opener: open }),
    }, 'Conversation');
    if (pending) actions.append(edit, cancel);
    else if (s.status === 'sent') actions.append(open);

    const view = h('div', { class: 'scheduled-main' },
      h('span', { class: 'item-top' },
        h('span', { class: 'item-name' }, 'To ', s.recipient),
        h('span', { class: `state-tag state-${status}`, testid: 'scheduled-status' }, STATUS_WORDS[status]),
        h('span', { class: 'item-time', testid: 'scheduled-when' },
          WHEN_WORDS[status], timeEl(s.send_at))),
      h('span', { class: 'item-subject' }, s.subject || '(no subject)'),
      h('span', { class: 'item-preview', testid: 'scheduled-content' }, s.content),
      s.status === 'failed'
        ? h('span', { class: 'failure', testid: 'scheduled-failure' }, h('strong', {}, 'Why: '), failureText(s.failure))
        : null);
    li.append(view, actions);

    function askConfirm() {
      const yes = h('button', { type: 'button', class: 'btn btn-danger btn-small', testid: 'scheduled-confirm-cancel', onclick: doCancel }, 'Cancel message');
      const no = h('button', {
        type: 'button', class: 'btn btn-quiet btn-small', testid: 'scheduled-keep',
        onclick: () => { actions.replaceChildren(edit, cancel); cancel.focus(); },
      }, 'Keep it');
      actions.replaceChildren(h('span', { class: 'confirm-text' }, 'Cancel this message? It will not be sent.'), yes, no);
      yes.focus();
    }

    async function doCancel(event) {
      event.currentTarget.disabled = true;
      ctx.clearError();
      try {
        await ctx.api.cancelScheduled(s.scheduled_id);
      } catch (error) {
        actions.replaceChildren(edit, cancel);
        ctx.showError(error, { action: 'scheduled-cancel', focus: true });
        if (error.code === 'conflict' || error.code === 'not_found') await load(false);
        return;
      }
      const cancelled = item({ ...s, status: 'cancelled' });
      li.replaceWith(cancelled);
      ctx.announce(`Scheduled ${label} cancelled.`);
      cancelled.querySelector('[data-testid="scheduled-status"]').setAttribute('tabindex', '-1');
      cancelled.querySelector('[data-testid="scheduled-status"]').focus();
      planWake();
    }

    function startEdit() {
      const id = s.scheduled_id;
      const sendAt = sendAtInput({ id: `scheduled-send-at-${id}`, testid: 'scheduled-edit-send-at', hintId: `scheduled-send-at-hint-${id}` });
      sendAt.input.value = toLocalInputValue(new Date(s.send_at));
      const subject = h('input', {
        id: `scheduled-subject-${id}`, type: 'text', maxlength: '255', testid: 'scheduled-edit-subject', value: s.subject || '',
      });
      const content = h('textarea', {
        id: `scheduled-content-${id}`, rows: '4', required: true, maxlength: '10000', testid: 'scheduled-edit-content',
      });
      content.value = s.content;
      const save = h('button', { type: 'submit', class: 'btn btn-primary btn-small', testid: 'scheduled-edit-save' }, 'Save changes');
      const discard = h('button', {
        type: 'button', class: 'btn btn-quiet btn-small', testid: 'scheduled-edit-discard',
        onclick: () => { form.replaceWith(view); li.append(actions); edit.focus(); },
      }, 'Discard changes');
      const form = h('form', { class: 'stack scheduled-edit', testid: 'scheduled-edit-form', 'aria-label': `Change scheduled ${label}`, onsubmit: onSave },
        h('div', { class: 'field' }, h('label', { for: sendAt.input.id }, 'Send at'), sendAt.input, sendAt.hint),
        h('div', { class: 'field' },
          h('label', { for: subject.id }, 'Subject ', h('span', { class: 'muted' }, '(optional)')), subject),
        h('div', { class: 'field' }, h('label', { for: content.id }, 'Message'), content),
        h('div', { class: 'form-actions' }, save, discard));
      view.replaceWith(form);
      actions.remove();
      sendAt.input.focus();

      async function onSave(event) {
        event.preventDefault();
        const changes = {};
        const when = sendAt.value();
        // An untouched picker keeps the planned time (even when that is now less than a minute away).
        const timeChanged = !when || toLocalInputValue(when) !== toLocalInputValue(new Date(s.send_at));
        if (timeChanged) {
          sendAt.check();
          changes.send_at = when ? when.toISOString() : undefined;
        } else {
          sendAt.input.setCustomValidity('');
        }
        if (!form.reportValidity()) return;
        if (subject.value.trim() !== (s.subject || '')) changes.subject = subject.value.trim() || null; // null removes it
        if (content.value !== s.content) changes.content = content.value;
        if (Object.keys(changes).length === 0) {
          form.replaceWith(view);
          li.append(actions);
          edit.focus();
          ctx.announce('Nothing was changed.');
          return;
        }
        save.disabled = true;
        ctx.clearError();
        let updated;
        try {
          updated = await ctx.api.updateScheduled(id, changes);
        } catch (error) {
          save.disabled = false;
          ctx.showError(error, { action: 'scheduled-edit', focus: true });
          if (error.code === 'conflict' || error.code === 'not_found') await load(false);
          return;
        }
        const next = item(updated && updated.scheduled_id ? updated : { ...s, ...changes });
        li.replaceWith(next);
        ctx.announce(`Scheduled ${label} changed.`);
        (next.querySelector('[data-testid="scheduled-edit"]') || next.querySelector('button') || el.querySelector('.view-title')).focus();
        planWake();
      }
    }

    return li;
  }

  load();
  return { el, refresh };
}
