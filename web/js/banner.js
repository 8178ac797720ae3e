// The error banner (role="alert", the one place where errors show) and polite announcements.
import { h } from './dom.js';
import { errorSentence } from './errors.js';

const banner = () => document.getElementById('error-banner');
const homeSlot = () => document.getElementById('banner-slot');

/**
 * Shows an error (ApiError, any Error or a string) as the sentence errors.js gives for `action`
 * ('login', 'send', 'reply', 'delete', 'restore', or none), replacing any earlier error.
 * `focus` moves keyboard focus to the banner: after an action the person started failed.
 * A 401 that ended the session is skipped: the session handler has shown it already.
 */
export function showError(error, { action, focus = false } = {}) {
  if (error && error.sessionEnded) return;
  const el = banner();
  const message = errorSentence(error, action);
  const code = error && typeof error === 'object' && error.code ? String(error.code) : '';
  el.dataset.code = code;
  el.replaceChildren(
    h('span', { class: 'error-icon', 'aria-hidden': 'true' }, '!'),
    h('p', { class: 'error-text', testid: 'error-message' }, message),
    h('button', {
      type: 'button', class: 'btn-icon', 'aria-label': 'Dismiss this message', testid: 'error-dismiss',
      onclick: () => clearError(true),
    }, '×'),
  );
  if (focus) el.focus();
  else if (typeof el.scrollIntoView === 'function') el.scrollIntoView({ block: 'nearest' });
}

export function clearError(returnFocus = false) {
  const el = banner();
  const hadFocus = el.contains(document.activeElement);
  el.replaceChildren();
  delete el.dataset.code;
  if (returnFocus && hadFocus) {
    const main = document.getElementById('main');
    const dialog = el.closest('dialog');
    (dialog ? dialog.querySelector('h2') : main).focus();
  }
}

/** Moves the banner into `parent` (e.g. the open modal dialog), or back home when omitted. */
export function mountBanner(parent) {
  (parent || homeSlot()).append(banner());
}

/** Screen-reader announcement of a completed action. */
export function announce(text) {
  const live = document.getElementById('live-status');
  live.textContent = '';
  // A separate task so that repeating the same text is announced again.
  setTimeout(() => { live.textContent = text; }, 50);
}
