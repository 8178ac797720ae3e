// Broadcast (POST /api/clinician/messages/broadcast): one ordinary message from the clinician to
// each of their approved patients. "Continue" counts the patients (GET /api/clinician/patients)
// and asks "This will send to N patients" before anything is sent. A confirmed broadcast carries a
// fresh Idempotency-Key; trying the same submission again after a failure reuses it, so a retry
// never sends twice; changing the message makes it a new submission with a new key.
import { h, viewHeading } from '../dom.js';
import { newIdempotencyKey } from '../api.js';

const patientsWord = (n) => `${n.toLocaleString()} patient${n === 1 ? '' : 's'}`;
const MAX_RECIPIENTS = 500; // the API refuses a broadcast to more (400), sending nothing

export function broadcastView(ctx) {
  const subject = h('input', { id: 'broadcast-subject', name: 'subject', type: 'text', maxlength: '255', testid: 'broadcast-subject' });
  const message = h('textarea', {
    id: 'broadcast-message', name: 'message', rows: '7', required: true, maxlength: '10000', testid: 'broadcast-message',
    'aria-describedby': 'broadcast-count',
  });
  const count = h('p', { id: 'broadcast-count', class: 'hint counter', 'aria-live': 'off' }, '0 / 10,000 characters');
  const review = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'broadcast-review' }, 'Continue');
  const status = h('p', { class: 'form-status', role: 'status', testid: 'broadcast-status' });
  const fields = h('fieldset', { class: 'plain-fieldset stack' },
    h('legend', { class: 'sr-only' }, 'Your message to all your patients'),
    h('div', { class: 'field' },
      h('label', { for: 'broadcast-subject' }, 'Subject ', h('span', { class: 'muted' }, '(optional)')), subject),
    h('div', { class: 'field' }, h('label', { for: 'broadcast-message' }, 'Message'), message, count));

  // The confirmation step: the count in words, then send or go back.
  const confirmText = h('p', { id: 'broadcast-confirm-text', class: 'confirm-question', tabindex: '-1', testid: 'broadcast-confirm-text' });
  const confirmNote = h('p', { class: 'hint', testid: 'broadcast-confirm-note' });
  const send = h('button', { type: 'button', class: 'btn btn-primary', testid: 'broadcast-send', onclick: doSend }, 'Send');
  const back = h('button', { type: 'button', class: 'btn btn-quiet', testid: 'broadcast-back', onclick: goBack }, 'Go back and edit');
  const confirm = h('div', {
    class: 'confirm-panel', role: 'group', 'aria-labelledby': 'broadcast-confirm-text', hidden: true, testid: 'broadcast-confirm',
  }, confirmText, confirmNote, h('div', { class: 'form-actions' }, send, back));

  const result = h('p', { class: 'result-note', tabindex: '-1', hidden: true, testid: 'broadcast-result' });

  const form = h('form', { class: 'card stack', onsubmit: onReview, 'aria-labelledby': 'broadcast-title' },
    fields, h('div', { class: 'form-actions' }, review, status), confirm);

  const el = h('section', { class: 'view', 'aria-labelledby': 'broadcast-title' },
    viewHeading('Message all your patients', 'broadcast-title'),
    h('p', { class: 'view-intro' },
      'One message to each patient approved for you. Each patient receives it as an ordinary message from you and does not see who else received it.'),
    result, form);

  let key = null; // the Idempotency-Key of this submission, kept for a retry
  let patients = 0;

  form.addEventListener('input', () => {
    key = null; // a changed message is a new submission
    count.textContent = `${message.value.length.toLocaleString()} / 10,000 characters`;
  });

  async function onReview(event) {
    event.preventDefault();
    if (!confirm.hidden) return; // Enter in a field while the confirmation shows: nothing
    if (!form.reportValidity()) return;
    review.disabled = true;
    status.textContent = 'Counting your patients…';
    ctx.clearError();
    result.hidden = true;
    try {
      const res = await ctx.api.patients();
      patients = Array.isArray(res && res.patients) ? res.patients.length : 0;
    } catch (error) {
      status.textContent = '';
      review.disabled = false;
      ctx.showError(error, { focus: true });
      return;
    }
    status.textContent = '';
    showConfirm();
  }

  function showConfirm() {
    fields.disabled = true;
    review.hidden = true;
    confirm.hidden = false;
    if (patients === 0) {
      confirmText.textContent = 'You have no approved patients yet, so there is nobody to send this to.';
      confirmNote.textContent = '';
      send.hidden = true;
    } else if (patients > MAX_RECIPIENTS) {
      confirmText.textContent = `You have ${patientsWord(patients)}: a message to all can go to at most ${MAX_RECIPIENTS}, so this cannot be sent.`;
      confirmNote.textContent = 'Please write to your patients from “My patients” instead.';
      send.hidden = true;
    } else {
      confirmText.textContent = `This will send to ${patientsWord(patients)}.`;
      confirmNote.textContent = 'Each of them receives this message from you. Please check it before you send it; it cannot be taken back.';
      send.hidden = false;
      send.disabled = false;
      send.textContent = `Send to ${patientsWord(patients)}`;
    }
    confirmText.focus();
  }

  function goBack() {
    confirm.hidden = true;
    fields.disabled = false;
    review.hidden = false;
    review.disabled = false;
    message.focus();
  }

  async function doSend() {
    key = key || newIdempotencyKey();
    send.disabled = true;
    back.disabled = true;
    status.textContent = 'Sending…';
    ctx.clearError();
    let res;
    try {
      res = await ctx.api.broadcast({ subject: subject.value, message: message.value }, key);
    } catch (error) {
      status.textContent = '';
      send.disabled = false;
      back.disabled = false;
      send.textContent = 'Try again';
      ctx.showError(error, { action: 'broadcast', focus: true });
      return;
    }
    key = null;
    const n = Array.isArray(res && res.recipients) ? res.recipients.length : Number(res && res.recipients) || 0;
    confirm.hidden = true;
    back.disabled = false;
    fields.disabled = false;
    review.hidden = false;
    review.disabled = false;
    form.reset();
    count.textContent = '0 / 10,000 characters';
    status.textContent = '';
    const done = n === 0 ? 'Nothing was sent: you have no approved patients.' : `Your message was sent to ${patientsWord(n)}.`;
    result.textContent = done;
    result.dataset.recipients = String(n);
    result.hidden = false;
    ctx.announce(done);
    result.focus();
  }

  return { el };
}
