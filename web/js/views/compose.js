// New message: recipient (with suggestions as the person types), subject, content. A refusal
// shows in the error banner, which takes focus.
import { h, viewHeading } from '../dom.js';
import { newIdempotencyKey } from '../api.js';
import { recipientCombobox } from '../recipients.js';

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

  let key = null;
  // Picking a suggestion changes the recipient without an input event: a new message, a new key.
  const suggestions = recipientCombobox(ctx, recipient, { onPick: () => { key = null; } });

  const form = h('form', { class: 'card stack', onsubmit: onSubmit },
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
    h('div', { class: 'form-actions' }, submit, status));

  const el = h('section', { class: 'view', 'aria-labelledby': 'compose-title' },
    viewHeading('New message', 'compose-title'), form);

  form.addEventListener('input', () => {
    key = null; // edited after a failed try: a new message, so a new idempotency key
    count.textContent = `${content.value.length.toLocaleString()} / 10,000 characters`;
  });

  async function onSubmit(event) {
    event.preventDefault();
    suggestions.close();
    if (!form.reportValidity()) return;
    key = key || newIdempotencyKey();
    const to = recipient.value.trim().toLowerCase();
    submit.disabled = true;
    status.textContent = 'Sending…';
    ctx.clearError();
    try {
      await ctx.api.send({ recipient: to, subject: subject.value, content: content.value }, key);
    } catch (err) {
      status.textContent = '';
      submit.disabled = false;
      ctx.showError(err, { action: 'send', focus: true });
      return;
    }
    key = null;
    form.reset();
    count.textContent = '0 / 10,000 characters';
    status.textContent = `Message sent to ${to}.`;
    ctx.announce(`Message sent to ${to}.`);
    submit.disabled = false;
    recipient.focus();
  }

  return { el };
}
