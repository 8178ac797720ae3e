// Entry point: session (login, restore, logout), navigation, live updates and the unread badge
// (pushed by the notification stream; polled only while the stream is not open).
import { api, setCsrfToken, resetTokens, setUnauthenticatedHandler } from './api.js';
import { h, srOnly, roleLabel } from './dom.js';
import { showError, clearError, announce } from './banner.js';
import { createThreadDialog } from './views/thread.js';
import { inboxView } from './views/inbox.js';
import { sentView } from './views/sent.js';
import { composeView } from './views/compose.js';
import { searchView } from './views/search.js';
import { clinicianView } from './views/clinician.js';
import { triageView } from './views/triage.js';
import { scheduledView } from './views/scheduled.js';
import { templatesView } from './views/templates.js';
import { broadcastView } from './views/broadcast.js';
import { privacyView } from './views/privacy.js';
import { adminView } from './views/admin.js';
import { auditorView } from './views/auditor.js';
import { createLive } from './live.js';
import { showNotice, setupNotices, desktopNotify } from './notices.js';

const POLL_MS = 10_000;
const MESSAGING_ROLES = ['patient', 'clinician'];

const TABS = [
  { name: 'triage', label: 'Triage', roles: ['clinician'], create: triageView },
  { name: 'inbox', label: 'Inbox', roles: MESSAGING_ROLES, create: inboxView },
  { name: 'sent', label: 'Sent', roles: MESSAGING_ROLES, create: sentView },
  { name: 'new', label: 'New message', roles: MESSAGING_ROLES, create: composeView },
  { name: 'scheduled', label: 'Scheduled', roles: MESSAGING_ROLES, create: scheduledView },
  { name: 'search', label: 'Search', roles: MESSAGING_ROLES, create: searchView },
  { name: 'patients', label: 'My patients', roles: ['clinician'], create: clinicianView },
  { name: 'broadcast', label: 'Message all', roles: ['clinician'], create: broadcastView },
  { name: 'templates', label: 'Templates', roles: ['clinician'], create: templatesView },
  { name: 'privacy', label: 'Privacy', roles: MESSAGING_ROLES, create: privacyView },
  { name: 'deleted', label: 'Messages', roles: ['admin'], create: adminView },
  { name: 'audit', label: 'Audit trail', roles: ['auditor', 'admin'], create: auditorView },
];
const DEFAULT_TAB = { patient: 'inbox', clinician: 'triage', admin: 'deleted', auditor: 'audit' };
// Views that show unread counts: reloaded when a message arrives or the unread total changes.
const UNREAD_VIEWS = ['inbox', 'patients', 'triage'];

const $ = (id) => document.getElementById(id);

const state = {
  user: null,
  unread: null,
  pollTimer: null,
  current: null, // { name, view }
  tabButtons: new Map(),
  badge: null,
};

const ctx = {
  api,
  showError,
  clearError,
  announce,
  get user() { return state.user; },
  navigate,
  openThread: (...args) => thread.open(...args),
  refreshUnread,
  setUnread,
};

const thread = createThreadDialog(ctx, { onClose: afterThreadClosed });

const live = createLive({
  onMessage: onLiveMessage,
  onRead: onLiveRead,
  onUnread: onLiveUnread,
  onOpen: onLiveOpen,
  onRefused: refreshUnread, // through the API wrapper: a 401 ends the session like any other
  onSignedOut: sessionEnded,
});

/** Reloads the view under the dialog (reads, replies, deletes) and keeps keyboard focus in place. */
async function afterThreadClosed(opener) {
  const current = state.current;
  if (!current) return;
  if (current.view.refresh) await current.view.refresh();
  if (state.current !== current || thread.isOpen()) return;
  if (opener && opener.isConnected) return;
  const focusLost = !document.activeElement || document.activeElement === document.body;
  if (focusLost) focusReplacement(current.view.el, opener);
}

/** Focuses the re-rendered counterpart of `old` (same test id and data) in `root`, else the heading. */
function focusReplacement(root, old) {
  const key = (el) => {
    const d = (el && el.dataset) || {};
    const row = el && el.closest ? el.closest('li') : null;
    const r = (row && row.dataset) || {};
    return [d.testid, d.with, d.messageId, d.username, r.username].join('|');
  };
  const wanted = key(old);
  const testid = (old && old.dataset && old.dataset.testid) || '';
  const match = testid ? [...root.querySelectorAll(`[data-testid="${testid}"]`)].find((el) => key(el) === wanted) : null;
  (match || root.querySelector('.view-title'))?.focus();
}

/** Reloads the shown view after a live event; keyboard focus inside it stays on its element. */
async function refreshCurrentView() {
  const current = state.current;
  if (!current || !current.view.refresh) return;
  const active = document.activeElement;
  const hadFocus = active && active !== current.view.el && current.view.el.contains(active);
  await current.view.refresh();
  if (!hadFocus || state.current !== current || thread.isOpen() || active.isConnected) return;
  const focusLost = !document.activeElement || document.activeElement === document.body;
  if (focusLost) focusReplacement(current.view.el, active);
}

// ---- Session ---------------------------------------------------------------------------------

async function boot() {
  setUnauthenticatedHandler(sessionEnded);
  $('login-form').addEventListener('submit', onLogin);
  $('logout-button').addEventListener('click', onLogout);
  window.addEventListener('hashchange', () => { if (state.user) showView(routeFromHash(), true); });
  document.addEventListener('visibilitychange', () => { if (!document.hidden && !live.isOpen()) refreshUnread(); });

  try {
    const me = await api.me();
    const { csrf_token: token } = await api.csrfToken();
    setCsrfToken(token);
    startSession(me, false);
  } catch (error) {
    showLogin();
    if (error.status === 0 || error.status >= 500) showError(error);
  } finally {
    $('boot').hidden = true;
  }
}

async function onLogin(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const username = $('login-username').value.trim().toLowerCase();
  const password = $('login-password').value;
  if (!form.reportValidity()) return;
  const submit = form.querySelector('button[type="submit"]');
  submit.disabled = true;
  clearError();
  try {
    resetTokens();
    const res = await api.login(username, password);
    setCsrfToken(res.csrf_token);
    $('login-password').value = '';
    startSession({ username: res.username, role: res.role, display_name: res.display_name }, true);
  } catch (error) {
    showError(error, { action: 'login' });
    $('login-password').focus();
  } finally {
    submit.disabled = false;
  }
}

/** The session ended elsewhere (a 401, or the stream's `signed_out`): back to the login screen. */
function sessionEnded() {
  if (!state.user) return;
  endSession();
  showError({ code: 'unauthenticated' }); // "Your session has ended", the one message shown
}

async function onLogout() {
  clearError();
  // The stream would announce this sign-out as `signed_out`: it is closed first.
  live.stop();
  try {
    await api.logout();
  } catch (error) {
    if (error.code === 'csrf_failed') {
      // The in-memory token went stale: fetch the session's token and try once more.
      try {
        setCsrfToken((await api.csrfToken()).csrf_token);
        await api.logout();
      } catch (retryError) {
        if (retryError.status !== 401) { stillSignedIn(); showError(retryError, { focus: true }); return; }
      }
    } else if (error.status !== 401) {
      stillSignedIn();
      showError(error, { focus: true });
      return;
    }
  }
  endSession();
  announce('You are signed out.');
}

/** Sign-out failed: the session goes on, and so do its live updates. */
function stillSignedIn() {
  if (state.user && MESSAGING_ROLES.includes(state.user.role)) live.start();
}

function startSession(user, focusView) {
  state.user = user;
  $('login-screen').hidden = true;
  $('app-screen').hidden = false;
  $('user-box').hidden = false;
  $('user-name').textContent = `${user.display_name || user.username} · ${roleLabel(user.role)}`;
  buildTabs();
  if (!location.hash.startsWith('#/') || routeFromHash() !== location.hash.slice(2)) {
    history.replaceState(null, '', `#/${routeFromHash()}`);
  }
  showView(routeFromHash(), focusView);
  if (MESSAGING_ROLES.includes(user.role)) {
    setupNotices(user.username);
    refreshUnread();
    // The fallback: the badge is polled only while the stream is not open.
    state.pollTimer = setInterval(() => { if (!document.hidden && !live.isOpen()) refreshUnread(); }, POLL_MS);
    live.start();
  }
}

function endSession() {
  live.stop();
  setupNotices(null);
  clearInterval(state.pollTimer);
  thread.close();
  state.pollTimer = null;
  state.user = null;
  state.unread = null;
  state.current = null;
  resetTokens();
  $('view').replaceChildren();
  $('tabs').replaceChildren();
  $('app-screen').hidden = true;
  $('user-box').hidden = true;
  document.title = 'Healing Space · Messages';
  showLogin();
}

function showLogin() {
  $('login-screen').hidden = false;
  $('login-username').focus();
}

// ---- Navigation ------------------------------------------------------------------------------

function allowedTabs() {
  return TABS.filter((t) => state.user && t.roles.includes(state.user.role));
}

function routeFromHash() {
  const name = location.hash.replace(/^#\/?/, '');
  const tab = allowedTabs().find((t) => t.name === name);
  return tab ? tab.name : DEFAULT_TAB[state.user.role] || 'inbox';
}

function buildTabs() {
  const nav = $('tabs');
  state.tabButtons.clear();
  state.badge = null;
  nav.replaceChildren(...allowedTabs().map((tab) => {
    const button = h('button', {
      type: 'button', class: 'tab', testid: `tab-${tab.name}`, 'aria-controls': 'view',
      onclick: () => navigate(tab.name),
    }, tab.label);
    if (tab.name === 'inbox') {
      state.badge = h('span', { class: 'badge', testid: 'inbox-badge', hidden: true, 'aria-hidden': 'true' });
      button.append(' ', state.badge, h('span', { class: 'sr-only', id: 'inbox-badge-sr' }));
    }
    state.tabButtons.set(tab.name, button);
    return button;
  }));
}

/** Navigates to a tab; choosing the tab that is already shown reloads it. */
function navigate(name) {
  if (location.hash === `#/${name}`) showView(name, true);
  else location.hash = `#/${name}`;
}

function showView(name, focus) {
  const tab = allowedTabs().find((t) => t.name === name);
  if (!tab) return;
  clearError();
  for (const [tabName, button] of state.tabButtons) {
    if (tabName === name) button.setAttribute('aria-current', 'page');
    else button.removeAttribute('aria-current');
  }
  const view = tab.create(ctx);
  state.current = { name, view };
  $('view').replaceChildren(view.el);
  if (focus) {
    const heading = view.el.querySelector('.view-title');
    if (heading) heading.focus();
  }
}

// ---- Unread badge ----------------------------------------------------------------------------

async function refreshUnread() {
  if (!state.user || !MESSAGING_ROLES.includes(state.user.role)) return;
  try {
    const { unread } = await api.unreadCount();
    setUnread(unread);
  } catch (error) {
    // Polling stays quiet on transient failures; a 401 already ends the session.
    if (error.status !== 401) console.warn('unread-count failed:', error.message);
  }
}

/** Sets the badge; `refreshInbox` reloads a shown inbox when the count went up (the polled path). */
function setUnread(count, { refreshInbox = true } = {}) {
  if (!state.badge || typeof count !== 'number') return;
  const previous = state.unread;
  state.unread = count;
  state.badge.dataset.count = String(count);
  state.badge.textContent = count > 99 ? '99+' : String(count);
  state.badge.hidden = count === 0;
  $('inbox-badge-sr').textContent = count ? `, ${count} unread` : '';
  document.title = `${count ? `(${count}) ` : ''}Healing Space · Messages`;
  // New mail while the inbox is shown: refresh the list (not while a thread is open on top of it).
  if (refreshInbox && previous !== null && count > previous && state.current && state.current.name === 'inbox' && !thread.isOpen()) {
    state.current.view.refresh();
  }
}

// ---- Live events -----------------------------------------------------------------------------

/** A message to me became visible: badge, the list under it or the open thread, and a notice. */
function onLiveMessage({ sender, display_name: displayName, total_unread: total }) {
  if (!state.user) return;
  setUnread(total, { refreshInbox: false });
  if (thread.isOpen()) {
    if (thread.withUser() === sender) thread.refresh();
  } else if (state.current && UNREAD_VIEWS.includes(state.current.name)) {
    refreshCurrentView();
  }
  const name = displayName || sender || 'someone';
  showNotice(`New message from ${name}`);
  desktopNotify(name);
}

/** A message I sent was read: ✓✓ in the sent list and in the open thread. */
function onLiveRead({ message_id: messageId, read_at: readAt }) {
  if (!state.user || !messageId) return;
  if (state.current && state.current.view.markRead) state.current.view.markRead(messageId, readAt);
  thread.markRead(messageId, readAt);
}

/** My unread total changed otherwise (read in another tab, a delete, a restore). */
function onLiveUnread({ total_unread: total }) {
  if (!state.user) return;
  setUnread(total, { refreshInbox: false });
  if (!thread.isOpen() && state.current && UNREAD_VIEWS.includes(state.current.name)) refreshCurrentView();
}

/** A new stream: it knows nothing of what happened before it, so that is fetched. */
function onLiveOpen({ resync }) {
  refreshUnread();
  if (!resync) return;
  if (thread.isOpen()) thread.refresh();
  else refreshCurrentView();
}

boot();
