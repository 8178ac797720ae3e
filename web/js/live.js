// Live notifications: the one EventSource (GET /api/notifications/stream) of a signed-in patient or
// clinician, its connection state in the header, and polling as the fallback.
//
// - `message`, `read` and `unread` events go to the handlers main.js gives; none carries a subject
//   or content. Within one EventSource the browser sends the last event id back as Last-Event-ID
//   when it reconnects (the server's `retry: 2000`), and the server replays what was missed.
// - The stream closed for good (EventSource CLOSED: a 401, a 503 when the server's capacity is
//   full, or any other refusal): `onRefused` checks the session through the API wrapper (a 401
//   ends it), the unread count is polled, and a new stream is tried after 2 s, 4 s, … up to 60 s.
// - `closed` events: `replaced` (more than 5 tabs of this user: this one waits, polling, until it
//   is shown or focused again), `shutdown` (the browser reconnects), `signed_out` (session ended).
// - The header says "Reconnecting…" only when the trouble lasts longer than QUIET_MS (3 s).

const STREAM_URL = '/api/notifications/stream';
const BACKOFF_MIN_MS = 2_000;
const BACKOFF_MAX_MS = 60_000;
const QUIET_MS = 3_000; // more than the server's `retry: 2000`: a first retry that works goes unnoticed

/**
 * States (the header element's data-state): `off` (no stream: signed out or a role without
 * messages), `connecting` (first attempt), `open`, `reconnecting` (the stream dropped; the browser
 * or the backoff is trying again), `polling` (the stream could not be opened or was replaced; the
 * unread count is polled meanwhile).
 */
export function createLive({ onMessage, onRead, onUnread, onOpen, onRefused, onSignedOut }) {
  let source = null;
  let state = 'off';
  let backoff = BACKOFF_MIN_MS;
  let retryTimer = null;
  let quietTimer = null;
  let replaced = false;
  let opensThisSession = 0;

  const el = () => document.getElementById('live-state');

  function setState(next, { trouble = false } = {}) {
    state = next;
    const node = el();
    if (!node) return;
    node.dataset.state = next;
    if (!trouble) {
      clearTimeout(quietTimer);
      quietTimer = null;
      node.textContent = '';
      return;
    }
    // Say it only when it lasts: a reconnect that succeeds within QUIET_MS goes unnoticed.
    if (!quietTimer && !node.textContent) {
      quietTimer = setTimeout(() => {
        quietTimer = null;
        if (state === 'reconnecting' || (state === 'polling' && !replaced)) node.textContent = 'Reconnecting…';
      }, QUIET_MS);
    }
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    const es = new EventSource(STREAM_URL);
    source = es;
    let openedBefore = false;
    let sawId = false;

    es.addEventListener('open', () => {
      if (es !== source) return;
      backoff = BACKOFF_MIN_MS;
      setState('open');
      opensThisSession += 1;
      // The browser resumes after the last event id it saw. A new EventSource has none, nor has
      // one that has not had an event yet: what happened meanwhile is fetched instead.
      if (!openedBefore) onOpen({ resync: opensThisSession > 1 });
      else if (!sawId) onOpen({ resync: true });
      openedBefore = true;
    });

    es.addEventListener('error', () => {
      if (es !== source) return;
      if (es.readyState === EventSource.CLOSED) {
        source = null;
        refused();
      } else {
        setState('reconnecting', { trouble: true });
      }
    });

    const on = (name, handler) => es.addEventListener(name, (event) => {
      if (es !== source) return;
      if (event.lastEventId) sawId = true;
      let data;
      try { data = JSON.parse(event.data); } catch { return; }
      if (data && typeof data === 'object') handler(data);
    });
    on('message', onMessage);
    on('read', onRead);
    on('unread', onUnread);
    on('closed', ({ reason }) => {
      if (reason === 'replaced') {
        // A newer tab of this user took the place: wait until this one is looked at again.
        es.close();
        source = null;
        replaced = true;
        setState('polling');
      } else if (reason === 'signed_out') {
        stop();
        onSignedOut();
      }
      // `shutdown`: the server is stopping; the browser reconnects by itself (`retry`).
    });
  }

  function refused() {
    replaced = false;
    setState('polling', { trouble: true });
    onRefused(); // a 401 ends the session (and stops this); otherwise the badge is polled
    if (state === 'off') return;
    const delay = backoff * (0.8 + Math.random() * 0.4);
    backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    retryTimer = setTimeout(connect, delay);
  }

  function onAttention() {
    if (state === 'off' || !replaced || document.hidden) return;
    replaced = false;
    backoff = BACKOFF_MIN_MS;
    setState('connecting');
    connect();
  }

  function start() {
    stop();
    if (typeof EventSource !== 'function') {
      setState('polling');
      return;
    }
    opensThisSession = 0;
    document.addEventListener('visibilitychange', onAttention);
    window.addEventListener('focus', onAttention);
    setState('connecting');
    connect();
  }

  function stop() {
    document.removeEventListener('visibilitychange', onAttention);
    window.removeEventListener('focus', onAttention);
    clearTimeout(retryTimer);
    retryTimer = null;
    if (source) source.close();
    source = null;
    replaced = false;
    backoff = BACKOFF_MIN_MS;
    setState('off');
  }

  return { start, stop, isOpen: () => state === 'open' };
}
