// "Send later" times: the `datetime-local` picker works in the person's own time zone, the API in
// RFC 3339 UTC. A scheduled message goes out at least 1 minute and at most 365 days ahead
// (POST/PATCH /api/messages/scheduled); the browser checks that first so the person hears why in
// words next to the field, and the server checks it again.
import { h } from './dom.js';

export const MIN_AHEAD_MS = 60_000;
export const MAX_AHEAD_MS = 365 * 86_400_000;

const pad = (n) => String(n).padStart(2, '0');

/** A Date as a `datetime-local` value in local time: "2026-12-03T09:30". */
export function toLocalInputValue(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** A `datetime-local` value (local time) as a Date, or null when empty or invalid. */
export function fromLocalInputValue(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(value || '');
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] || 0));
  return Number.isNaN(d.getTime()) ? null : d;
}

/** What is wrong with `date` as a send time (a sentence), or '' when it may be used. */
export function sendAtProblem(date, now = new Date()) {
  if (!date) return 'Please choose a date and time to send the message.';
  const ahead = date.getTime() - now.getTime();
  if (ahead < MIN_AHEAD_MS) return 'Please choose a time at least 1 minute from now.';
  if (ahead > MAX_AHEAD_MS) return 'Please choose a time within the next 365 days.';
  return '';
}

/** The default of a newly shown picker: in an hour, on the next quarter hour. */
export function defaultSendAt(now = new Date()) {
  const d = new Date(now.getTime() + 3_600_000);
  d.setSeconds(0, 0);
  d.setMinutes(Math.ceil(d.getMinutes() / 15) * 15);
  return d;
}

/** The person's time zone, for the hint ("Europe/Berlin"), or '' when the browser does not say. */
export function timeZoneName() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || '';
  } catch {
    return '';
  }
}

/**
 * A `datetime-local` input and a `check()` that sets its custom validity message from the API's
 * bounds: call it before `form.reportValidity()`. (No min/max attributes: the browser would tell
 * its own "Value must be … or later" before our sentence.)
 * Returns `{ input, hint, check, value }`, `value()` being the chosen Date (or null).
 */
export function sendAtInput({ id, testid, hintId, required = true }) {
  const input = h('input', {
    id, name: 'send_at', type: 'datetime-local', step: '60', required, testid, 'aria-describedby': hintId,
  });
  const zone = timeZoneName();
  const hint = h('p', { id: hintId, class: 'hint' },
    `In your local time${zone ? ` (${zone})` : ''}: at least 1 minute and at most 365 days from now.`);
  input.addEventListener('input', () => input.setCustomValidity(''));
  const value = () => fromLocalInputValue(input.value);
  function check() {
    const problem = input.disabled ? '' : sendAtProblem(value());
    input.setCustomValidity(problem);
    return !problem;
  }
  return { input, hint, check, value };
}
