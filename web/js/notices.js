// New-message notices: the calm in-app notice (role="status", never takes focus) and the optional
// desktop notification the person turns on. Both name only the sender: never a subject or content.

const NOTICE_MS = 8_000;
const DESKTOP_TITLE = 'Healing Space';
const DESKTOP_TAG = 'hs-message';

const $ = (id) => document.getElementById(id);
let hideTimer = null;
let hovered = false;

/** Shows `text` in the notice region (inside the open dialog, where the rest is inert). */
export function showNotice(text) {
  const el = $('live-notice');
  if (!el) return;
  const dialog = document.querySelector('dialog[open]');
  const host = (dialog && (dialog.querySelector('.notice-slot') || dialog)) || $('notice-slot');
  if (el.parentElement !== host) host.append(el);
  el.textContent = '';
  clearTimeout(hideTimer);
  // A separate task, so that the same text twice is announced twice.
  setTimeout(() => {
    el.textContent = text;
    scheduleHide();
  }, 50);
}

function scheduleHide() {
  clearTimeout(hideTimer);
  hideTimer = setTimeout(() => {
    if (hovered) return; // hidden when the pointer leaves
    hideNotice();
  }, NOTICE_MS);
}

export function hideNotice() {
  clearTimeout(hideTimer);
  hideTimer = null;
  const el = $('live-notice');
  if (!el) return;
  el.textContent = '';
  const home = $('notice-slot');
  if (home && el.parentElement !== home) home.append(el);
}

function wireNotice() {
  const el = $('live-notice');
  if (!el || el.dataset.wired) return;
  el.dataset.wired = 'true';
  el.addEventListener('mouseenter', () => { hovered = true; });
  el.addEventListener('mouseleave', () => {
    hovered = false;
    if (el.textContent) scheduleHide();
  });
}

// ---- Desktop notifications (opt-in, remembered per user in this browser) --------------------

const supported = () => typeof window.Notification === 'function';
const storageKey = (username) => `hs.desktop-notifications.${username}`;
let currentUser = null;

function optedIn() {
  if (!currentUser) return false;
  try { return localStorage.getItem(storageKey(currentUser)) === 'on'; } catch { return false; }
}

function remember(on) {
  try {
    if (on) localStorage.setItem(storageKey(currentUser), 'on');
    else localStorage.removeItem(storageKey(currentUser));
  } catch { /* storage unavailable: on for this page only */ }
}

const enabled = () => supported() && optedIn() && Notification.permission === 'granted';

function renderToggle() {
  const button = $('notify-toggle');
  if (!button) return;
  button.hidden = !currentUser || !supported();
  button.textContent = enabled() ? 'Turn off desktop notifications' : 'Turn on desktop notifications';
}

async function onToggle() {
  if (!currentUser || !supported()) return;
  if (enabled()) {
    remember(false);
    renderToggle();
    showNotice('Desktop notifications are off.');
    return;
  }
  // The permission prompt comes only from this click.
  let permission = Notification.permission;
  if (permission === 'default') {
    try { permission = await Notification.requestPermission(); } catch { permission = Notification.permission; }
  }
  if (!currentUser) return;
  if (permission === 'granted') {
    remember(true);
    showNotice('Desktop notifications are on. They show only who wrote to you.');
  } else {
    showNotice('Desktop notifications are blocked in this browser. You can allow them in its site settings.');
  }
  renderToggle();
}

/** Shows the opt-in control for a user who receives messages; `null` hides it. */
export function setupNotices(username) {
  currentUser = username || null;
  wireNotice();
  const button = $('notify-toggle');
  if (button && !button.dataset.wired) {
    button.dataset.wired = 'true';
    button.addEventListener('click', onToggle);
  }
  if (!currentUser) hideNotice();
  renderToggle();
}

/** A desktop notification for a new message, when turned on and this tab is not being looked at. */
export function desktopNotify(displayName) {
  if (!enabled() || document.visibilityState !== 'hidden') return;
  try {
    new Notification(DESKTOP_TITLE, { body: `New message from ${displayName}`, tag: DESKTOP_TAG });
  } catch {
    /* e.g. a browser that allows notifications only from a service worker */
  }
}
