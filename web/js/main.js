// Entry point: session (login, restore, logout), navigation, unread badge polling.
import { api, setCsrfToken, resetTokens, setUnauthenticatedHandler } from './api.js';
import { h, srOnly, roleLabel } from './dom.js';
import { showError, clearError, announce } from './banner.js';
import { createThreadDialog } from './views/thread.js';
import { inboxView } from './views/inbox.js';
import { sentView } from './views/sent.js';
import { composeView } from './views/compose.js';
import { searchView } from './views/search.js';
import { clinicianView } from './views/clinician.js';
import { adminView } from './views/admin.js';
import { auditorView } from './views/auditor.js';

const POLL_MS = 10_000;
const MESSAGING_ROLES = ['patient', 'clinician'];

const TABS = [
  { name: 'inbox', label: 'Inbox', roles: MESSAGING_ROLES, create: inboxView },
  { name: 'sent', label: 'Sent', roles: MESSAGING_ROLES, create: sentView },
  { name: 'new', label: 'New message', roles: MESSAGING_ROLES, create: composeView },
  { name: 'search', label: 'Search', roles: MESSAGING_ROLES, create: searchView },
  { name: 'patients', label: 'My patients', roles: ['clinician'], create: clinicianView },
  { name: 'deleted', label: 'Deleted messages', roles: ['admin'], create: adminView },
  { name: 'audit', label: 'Audit log', roles: ['auditor', 'admin'], create: auditorView },
];
const DEFAULT_TAB = { patient: 'inbox', clinician: 'inbox', admin: 'deleted', auditor: 'audit' };

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

/** Reloads the view under the dialog (reads, replies, deletes) and keeps keyboard focus in place. */
async function afterThreadClosed(opener) {
  const current = state.current;
  if (!current) return;
  if (current.view.refresh) await current.view.refresh();
  if (state.current !== current || thread.isOpen()) return;
  if (opener && opener.isConnected) return;
  // The opener was re-rendered: focus its replacement (same test id and data), else the heading.
  const d = (opener && opener.dataset) || {};
  const match = [...current.view.el.querySelectorAll(`[data-testid="${d.testid || ''}"]`)]
    .find((el) => el.dataset.with === d.with && el.dataset.messageId === d.messageId);
  const focusLost = !document.activeElement || document.activeElement === document.body;
  if (focusLost) (match || current.view.el.querySelector('.view-title'))?.focus();
}

// ---- Session ---------------------------------------------------------------------------------

async function boot() {
  setUnauthenticatedHandler(() => {
    if (!state.user) return;
    endSession();
    showError({ code: 'unauthenticated' }); // "Your session has ended", the one message shown
  });
  $('login-form').addEventListener('submit', onLogin);
  $('logout-button').addEventListener('click', onLogout);
  window.addEventListener('hashchange', () => { if (state.user) showView(routeFromHash(), true); });
  document.addEventListener('visibilitychange', () => { if (!document.hidden) refreshUnread(); });

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

async function onLogout() {
  clearError();
  try {
    await api.logout();
  } catch (error) {
    if (error.code === 'csrf_failed') {
      // The in-memory token went stale: fetch the session's token and try once more.
      try {
        setCsrfToken((await api.csrfToken()).csrf_token);
        await api.logout();
      } catch (retryError) {
        if (retryError.status !== 401) { showError(retryError, { focus: true }); return; }
      }
    } else if (error.status !== 401) {
      showError(error, { focus: true });
      return;
    }
  }
  endSession();
  announce('You are signed out.');
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
    refreshUnread();
    state.pollTimer = setInterval(() => { if (!document.hidden) refreshUnread(); }, POLL_MS);
  }
}

function endSession() {
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

function setUnread(count) {
  if (!state.badge || typeof count !== 'number') return;
  const previous = state.unread;
  state.unread = count;
  state.badge.dataset.count = String(count);
  state.badge.textContent = count > 99 ? '99+' : String(count);
  state.badge.hidden = count === 0;
  $('inbox-badge-sr').textContent = count ? `, ${count} unread` : '';
  document.title = `${count ? `(${count}) ` : ''}Healing Space · Messages`;
  // New mail while the inbox is shown: refresh the list (not while a thread is open on top of it).
  if (previous !== null && count > previous && state.current && state.current.name === 'inbox' && !thread.isOpen()) {
    state.current.view.refresh();
  }
}

boot();
