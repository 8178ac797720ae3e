// Clinician triage (GET /api/clinician/triage): approved patients, those waiting for an answer
// first (the longest wait first), with unread from the patient, the last activity and the median
// reply time. A row opens the conversation in the shared thread dialog (ctx.openThread).
import { h, timeEl, viewHeading } from '../dom.js';

const fmtClock = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const fmtDay = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', hour: 'numeric', minute: '2-digit' });
const fmtFull = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' });

/** A duration in minutes as people say it: "under 1 min", "35 min", "2 h 5 min", "3 d 4 h". */
export function formatMinutes(minutes) {
  const m = Math.round(Number(minutes));
  if (!Number.isFinite(m) || m < 1) return 'under 1 min';
  if (m < 60) return `${m} min`;
  const hours = Math.floor(m / 60);
  if (hours < 24) return m % 60 ? `${hours} h ${m % 60} min` : `${hours} h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days} d ${hours % 24} h` : `${days} d`;
}

/** "waiting 2 h (since 09:14)": the wait so far and when it began (with the day when not today). */
function waitingText(iso, now = new Date()) {
  const since = new Date(iso);
  if (Number.isNaN(since.getTime())) return null;
  const minutes = Math.max(0, (now.getTime() - since.getTime()) / 60_000);
  const today = since.toDateString() === now.toDateString();
  return `waiting ${formatMinutes(minutes)} (since ${(today ? fmtClock : fmtDay).format(since)})`;
}

export function triageView(ctx) {
  const list = h('ul', { class: 'item-list', testid: 'triage-list', 'aria-labelledby': 'triage-title' });
  const intro = h('p', { class: 'view-intro' }, 'Patients waiting for your answer come first, the longest wait first.');
  const empty = h('p', { class: 'empty', hidden: true, testid: 'triage-empty' }, 'No patients are assigned to you yet.');
  const el = h('section', { class: 'view', 'aria-labelledby': 'triage-title' },
    viewHeading('Triage', 'triage-title'), intro, list, empty);
  let seq = 0;

  async function load() {
    const mine = ++seq;
    list.setAttribute('aria-busy', 'true');
    try {
      const { patients } = await ctx.api.triage();
      if (mine !== seq) return;
      const now = new Date();
      list.replaceChildren(...patients.map((p) => item(p, now)));
      empty.hidden = patients.length > 0;
    } catch (error) {
      if (mine === seq) ctx.showError(error);
    } finally {
      if (mine === seq) list.removeAttribute('aria-busy');
    }
  }

  function item(p, now) {
    const name = p.display_name || p.username;
    const unread = p.unread_from_patient > 0;
    const waiting = p.waiting_since ? waitingText(p.waiting_since, now) : null;
    const since = waiting ? new Date(p.waiting_since) : null;
    const median = p.median_reply_minutes === null || p.median_reply_minutes === undefined
      ? '—' : formatMinutes(p.median_reply_minutes);
    const button = h('button', {
      type: 'button', class: `item-button triage-item${waiting ? ' is-waiting' : ''}${unread ? ' is-unread' : ''}`,
      testid: 'triage-row', dataset: { username: p.username, waiting: waiting ? 'true' : 'false' },
      onclick: () => ctx.openThread(p.username, { opener: button, label: name }),
    },
    h('span', { class: 'item-top' },
      h('span', { class: 'item-name', testid: 'triage-name' }, name),
      h('span', { class: 'muted' }, `@${p.username}`),
      unread ? h('span', { class: 'badge', testid: 'triage-unread' },
        String(p.unread_from_patient), h('span', { class: 'sr-only' }, ' unread')) : null,
      h('span', { class: 'item-time' }, p.last_message_at ? ['Last activity ', timeEl(p.last_message_at)] : 'No messages yet')),
    waiting
      ? h('span', { class: 'triage-waiting', testid: 'triage-waiting' },
        h('span', { class: 'waiting-tag' }, 'Waiting for your answer'), ' ',
        h('time', { datetime: p.waiting_since, title: fmtFull.format(since) }, waiting))
      : null,
    h('span', { class: 'item-status muted', testid: 'triage-median' },
      `median reply ${median}`, median === '—' ? h('span', { class: 'sr-only' }, ' (not known yet)') : null));
    return h('li', { dataset: { username: p.username } }, button);
  }

  load();
  return { el, refresh: load };
}
