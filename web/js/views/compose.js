// New message: recipient (with suggestions as the person types), subject, content. A clinician may
// start from one of their templates (GET /api/messages/templates). "Send later" schedules the
// message instead (POST /api/messages/scheduled) for a time the person picks. A refusal shows in
// the error banner, which takes focus.
import { h, viewHeading } from '../dom.js';
import { newIdempotencyKey } from '../api.js';
import { recipientCombobox } from '../recipients.js';
import { sendAtInput, defaultSendAt, toLocalInputValue } from '../sendat.js';

const fmtWhen = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' });

export function composeView(ctx) {
  const recipient = h('input', {
    id: 'compose-recipient', name: 'recipient', type: 'text', required: true, maxlength: '64',
    autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', testid: 'compose-recipient',
    'aria-describedby': 'compose-recipient-hint',
  });
  const subject = h('input', {
    id: 'compose-subject', name: 'subject', type: 'text', maxlength: '255', testid: 'compose-subject',
  });
  const content = h('textarea', {
    id: 'compose-content', name: 'content', rows: '7', required: true, maxlength: '10000',
    testid: 'compose-content', 'aria-describedby': 'compose-count',
  });
  const count = h('p', { id: 'compose-count', class: 'hint counter', 'aria-live': 'off' }, '0 / 10,000 characters');
  const status = h('p', { class: 'form-status', role: 'status', testid: 'compose-status' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'compose-send' }, 'Send message');

  // Send later: a checkbox that shows the time picker (disabled, so not validated, while off).
  const later = h('input', {
    id: 'compose-later', name: 'later', type: 'checkbox', testid: 'compose-later', 'aria-controls': 'compose-later-fields',
  });
  const sendAt = sendAtInput({ id: 'compose-send-at', testid: 'compose-send-at', hintId: 'compose-send-at-hint' });
  const laterFields = h('div', { id: 'compose-later-fields', class: 'field', hidden: true },
    h('label', { for: 'compose-send-at' }, 'Send at'), sendAt.input, sendAt.hint);

  const isClinician = ctx.user && ctx.user.role === 'clinician';
  const templates = isClinician ? templatePicker() : null;

  let key = null;
  // Picking a suggestion changes the recipient without an input event: a new message, a new key.
  const suggestions = recipientCombobox(ctx, recipient, { onPick: () => { key = null; } });

  const form = h('form', { class: 'card stack', onsubmit: onSubmit },
    templates ? templates.el : null,
    h('div', { class: 'field' },
      h('label', { for: 'compose-recipient' }, 'To (username)'),
      suggestions.el,
      h('p', { id: 'compose-recipient-hint', class: 'hint' },
        'Start typing a name or username to see suggestions, or type the username in full (for example: bob or dr_carol).')),
    h('div', { class: 'field' },
      h('label', { for: 'compose-subject' }, 'Subject ', h('span', { class: 'muted' }, '(optional)')),
      subject),
    h('div', { class: 'field' },
      h('label', { for: 'compose-content' }, 'Message'),
      content, count),
    h('div', { class: 'send-later' },
      h('div', { class: 'check-field' }, later, h('label', { for: 'compose-later' }, 'Send later')),
      laterFields),
    h('div', { class: 'form-actions' }, submit, status));

  const el = h('section', { class: 'view', 'aria-labelledby': 'compose-title' },
    viewHeading('New message', 'compose-title'), form);

  form.addEventListener('input', () => {
    key = null; // edited after a failed try: a new message, so a new idempotency key
    count.textContent = `${content.value.length.toLocaleString()} / 10,000 characters`;
  });
  later.addEventListener('change', syncLater);

  /** Shows or hides the time picker as "Send later" says; the button says what it will do. */
  function syncLater() {
    const on = later.checked;
    laterFields.hidden = !on;
    sendAt.input.disabled = !on;
    if (on && !sendAt.input.value) sendAt.input.value = toLocalInputValue(defaultSendAt());
    submit.textContent = on ? 'Schedule message' : 'Send message';
  }
  syncLater();

  async function onSubmit(event) {
    event.preventDefault();
    suggestions.close();
    sendAt.check();
    if (!form.reportValidity()) return;
    const to = recipient.value.trim().toLowerCase();
    submit.disabled = true;
    status.textContent = later.checked ? 'Scheduling…' : 'Sending…';
    ctx.clearError();
    let done;
    try {
      done = later.checked ? await schedule(to) : await send(to);
    } catch (err) {
      status.textContent = '';
      submit.disabled = false;
      ctx.showError(err, { action: later.checked ? 'schedule' : 'send', focus: true });
      return;
    }
    key = null;
    form.reset();
    syncLater();
    if (templates) templates.reset();
    count.textContent = '0 / 10,000 characters';
    status.textContent = done;
    ctx.announce(done);
    submit.disabled = false;
    recipient.focus();
  }

  async function send(to) {
    key = key || newIdempotencyKey();
    await ctx.api.send({ recipient: to, subject: subject.value, content: content.value }, key);
    return `Message sent to ${to}.`;
  }

  async function schedule(to) {
    key = key || newIdempotencyKey();
    const when = sendAt.value();
    const res = await ctx.api.schedule({
      recipient: to, subject: subject.value, content: content.value, send_at: when.toISOString(),
    }, key);
    const at = new Date(res && res.send_at ? res.send_at : when);
    return `Message to ${to} scheduled for ${fmtWhen.format(at)}. You can change or cancel it under “Scheduled”.`;
  }

  /** The clinician's templates: choose one and "Use template" fills in the subject and message. */
  function templatePicker() {
    const select = h('select', {
      id: 'compose-template', name: 'template', testid: 'compose-template', 'aria-describedby': 'compose-template-hint',
      disabled: true, 'aria-busy': 'true',
    }, h('option', { value: '' }, 'Loading templates…'));
    const use = h('button', { type: 'button', class: 'btn btn-quiet', testid: 'compose-template-use', onclick: apply, disabled: true }, 'Use template');
    const manage = h('button', {
      type: 'button', class: 'btn btn-quiet btn-small', testid: 'compose-template-manage',
      onclick: () => ctx.navigate('templates'),
    }, 'Manage templates');
    const hint = h('p', { id: 'compose-template-hint', class: 'hint' },
      'Fills in the subject and message, which you can still change before sending.');
    const field = h('div', { class: 'field template-picker', testid: 'compose-template-picker' },
      h('label', { for: 'compose-template' }, 'Start from a template ', h('span', { class: 'muted' }, '(optional)')),
      h('div', { class: 'inline-row' }, select, use),
      hint, manage);
    let list = [];

    function fill(items) {
      list = items;
      select.removeAttribute('aria-busy');
      const first = items.length ? 'Choose a template' : 'You have no templates yet';
      select.replaceChildren(h('option', { value: '' }, first),
        ...items.map((t) => h('option', { value: t.template_id }, t.title)));
      select.disabled = items.length === 0;
      use.disabled = items.length === 0;
    }

    function apply() {
      const chosen = list.find((t) => t.template_id === select.value);
      if (!chosen) {
        select.focus();
        return;
      }
      subject.value = chosen.subject || '';
      content.value = chosen.content || '';
      form.dispatchEvent(new Event('input')); // the counter, and a new idempotency key
      ctx.announce(`Template “${chosen.title}” filled in the subject and message.`);
      content.focus();
    }

    (async () => {
      try {
        const res = await ctx.api.templates();
        fill(Array.isArray(res && res.templates) ? res.templates : []);
      } catch (error) {
        // Templates are help, not a gate (like recipient suggestions): the form works without them.
        fill([]);
        select.replaceChildren(h('option', { value: '' }, 'Templates are not available right now'));
        console.debug('templates unavailable:', error && (error.code || error.message));
      }
    })();

    return { el: field, reset: () => { select.value = ''; } };
  }

  return { el };
}
