// The error banner (role="alert") and polite announcements.
import { h } from './dom.js';

const banner = () => document.getElementById('error-banner');
const homeSlot = () => document.getElementById('banner-slot');

/** Shows an error (ApiError or any Error or string) with the server's message. */
export function showError(error) {
  const el = banner();
  const message = typeof error === 'string' ? error : (error && error.message) || 'Something went wrong.';
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
  if (typeof el.scrollIntoView === 'function') el.scrollIntoView({ block: 'nearest' });
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
