// Clinician: approved patients with unread counts, and a send box (POST /api/clinician/message).
import { h, timeEl, viewHeading } from '../dom.js';

export function clinicianView(ctx) {
  const list = h('ul', { class: 'item-list', testid: 'patient-list', 'aria-labelledby': 'patients-title' });
  const empty = h('p', { class: 'empty', hidden: true }, 'No patients are assigned to you yet.');

  const select = h('select', { id: 'clinician-recipient', name: 'recipient_username', required: true, testid: 'clinician-recipient' },
    h('option', { value: '' }, 'Choose a patient'));
  const subject = h('input', { id: 'clinician-subject', name: 'subject', type: 'text', maxlength: '255', testid: 'clinician-subject' });
  const message = h('textarea', { id: 'clinician-message', name: 'message', rows: '5', required: true, maxlength: '10000', testid: 'clinician-message' });
  const status = h('p', { class: 'form-status', role: 'status', testid: 'clinician-status' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'clinician-send' }, 'Send to patient');
  const form = h('form', { class: 'card stack', onsubmit: onSubmit, 'aria-labelledby': 'clinician-form-title' },
    h('h2', { id: 'clinician-form-title', class: 'card-title' }, 'Write to a patient'),
    h('div', { class: 'field' }, h('label', { for: 'clinician-recipient' }, 'Patient'), select),
    h('div', { class: 'field' },
      h('label', { for: 'clinician-subject' }, 'Subject ', h('span', { class: 'muted' }, '(optional)')), subject),
    h('div', { class: 'field' }, h('label', { for: 'clinician-message' }, 'Message'), message),
    h('div', { class: 'form-actions' }, submit, status));

  const el = h('section', { class: 'view', 'aria-labelledby': 'patients-title' },
    viewHeading('My patients', 'patients-title'), list, empty, form);
  let seq = 0;

  async function load() {
    const mine = ++seq;
    list.setAttribute('aria-busy', 'true');
    try {
      const { patients } = await ctx.api.patients();
      if (mine !== seq) return;
      list.replaceChildren(...patients.map(item));
      empty.hidden = patients.length > 0;
      const chosen = select.value;
      select.replaceChildren(h('option', { value: '' }, 'Choose a patient'),
        ...patients.map((p) => h('option', { value: p.username }, `${p.display_name || p.username} (${p.username})`)));
      if (patients.some((p) => p.username === chosen)) select.value = chosen;
    } catch (error) {
      if (mine === seq) ctx.showError(error);
    } finally {
      if (mine === seq) list.removeAttribute('aria-busy');
    }
  }

  function item(p) {
    const name = p.display_name || p.username;
    const unread = p.unread_count > 0;
    const write = h('button', {
      type: 'button', class: 'btn btn-primary btn-small', testid: 'patient-write',
      'aria-label': `Write to ${name}`,
      onclick: () => { select.value = p.username; message.focus(); },
    }, 'Write');
    const open = h('button', {
      type: 'button', class: 'btn btn-quiet btn-small', testid: 'patient-open-thread', dataset: { with: p.username },
      'aria-label': `Open conversation with ${name}`,
      onclick: () => ctx.openThread(p.username, { opener: open, label: name }),
    }, 'Conversation');
    return h('li', { class: `patient${unread ? ' is-unread' : ''}`, testid: 'patient-item', dataset: { username: p.username } },
      h('div', { class: 'patient-main' },
        h('span', { class: 'item-name' }, name),
        h('span', { class: 'muted' }, ` @${p.username}`),
        unread ? h('span', { class: 'badge', testid: 'patient-unread' }, String(p.unread_count), h('span', { class: 'sr-only' }, ' unread')) : null,
        h('span', { class: 'item-time' }, p.last_message_at ? ['Last message ', timeEl(p.last_message_at)] : 'No messages yet')),
      h('div', { class: 'patient-actions' }, write, open));
  }

  async function onSubmit(event) {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const to = select.value;
    submit.disabled = true;
    status.textContent = 'Sending…';
    ctx.clearError();
    try {
      await ctx.api.clinicianMessage({ recipient_username: to, subject: subject.value, message: message.value });
      subject.value = '';
      message.value = '';
      status.textContent = `Message sent to ${to}.`;
      ctx.announce(`Message sent to ${to}.`);
      submit.disabled = false;
      message.focus();
      load();
    } catch (error) {
      status.textContent = '';
      submit.disabled = false;
      ctx.showError(error, { action: 'send', focus: true });
    }
  }

  load();
  return { el, refresh: load };
}
