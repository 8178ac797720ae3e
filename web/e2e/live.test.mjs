// Live updates of the messaging SPA (GET /api/notifications/stream) against a running gateway:
// bob's open inbox shows alice's new message within 1 s without a reload, alice's sent list turns
// ✓✓ when bob reads it, open threads update both ways, the header tells a dropped stream
// ("Reconnecting…") and the stream comes back, polling covers a refused stream, a sign-out in one
// tab ends the other, and desktop notifications name only the sender, after an opt-in.
//
//   BASE_URL=http://127.0.0.1:8080 SCREENSHOT_DIR=test-output/screenshots node --test web/e2e/live.test.mjs
//
// Needs the demo users (password `healing-demo`): alice, bob. Subjects carry a unique word per run.
import { describe, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  useBrowser, newUserPage, login, screenshot, closeThread, step, byTestId, dialogOf, pages, problems,
  uniqueWord, badgeCount, waitForBadge, waitForLiveState, BASE_URL, TIMEOUT,
} from './support.mjs';

const LIVE_MS = 1_000; // the bound: from alice's 201 to bob's screen
const WORD = uniqueWord('live');
const SUBJECT = `Evening walk ${WORD}`;
const ORIGINAL = `Hi Bob, shall we walk by the ${WORD} pond tonight?`;
const REPLY = `And bring the ${WORD} thermos, please.`;
const BEFORE_SUBJECT = `Before the cut ${WORD}`;
const OFFLINE_SUBJECT = `While you were away ${WORD}`;
const STREAM = '**/api/notifications/stream';

const loads = {};
let bobUnreadBefore = 0;

/** Counts full page loads and marks the window, so that a reload would show. */
async function watchForReloads(page, name) {
  loads[name] = 0;
  page.on('load', () => { loads[name] += 1; });
  await page.evaluate((n) => { window.name = `live-test-${n}`; }, name);
  return page.url();
}

async function assertNoReload(page, name, url) {
  assert.equal(loads[name], 0, `${name}: no page load`);
  assert.equal(page.url(), url, `${name}: no navigation`);
  assert.equal(await page.evaluate(() => window.name), `live-test-${name}`, `${name}: the same document`);
}

/**
 * Starts waiting in `page` for `probe(arg)`, which answers `Date.now()` once its condition holds,
 * and resolves with that time (checked every animation frame: the time of the change on screen).
 */
function seenAt(page, probe, arg, timeout = TIMEOUT) {
  return page.waitForFunction(probe, arg, { polling: 'raf', timeout }).then((handle) => handle.jsonValue());
}

/**
 * A forwarding HTTP proxy for one browser context that can cut its notification streams: `cut()`
 * drops the open ones and refuses new ones (a network error, as when a connection is lost);
 * `restore()` lets them through again.
 */
async function streamCutter() {
  const open = new Set();
  let blocked = false;
  const server = http.createServer((req, res) => {
    let target;
    try { target = new URL(req.url); } catch { res.writeHead(400).end(); return; }
    const isStream = target.pathname === '/api/notifications/stream';
    if (isStream && blocked) { req.socket.destroy(); return; }
    const headers = { ...req.headers };
    delete headers['proxy-connection'];
    const upstream = http.request({
      hostname: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, method: req.method, headers,
    }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
    if (isStream) {
      const entry = { res, upstream };
      open.add(entry);
      res.on('close', () => { open.delete(entry); upstream.destroy(); });
    }
  });
  await new Promise((resolve) => { server.listen(0, '127.0.0.1', resolve); });
  return {
    proxy: { server: `http://127.0.0.1:${server.address().port}` },
    cut() {
      blocked = true;
      for (const { res, upstream } of open) { res.socket?.destroy(); upstream.destroy(); }
    },
    restore() { blocked = false; },
    close() { server.closeAllConnections(); server.close(); },
  };
}

/** Alice sends bob a message from her New message tab. */
async function sendAsAlice(subject) {
  const alice = pages.alice;
  await byTestId(alice, 'tab-new').click();
  await byTestId(alice, 'compose-recipient').fill('bob');
  await byTestId(alice, 'compose-subject').fill(subject);
  await byTestId(alice, 'compose-content').fill(`Nothing urgent (${WORD}).`);
  await byTestId(alice, 'compose-send').click();
  await byTestId(alice, 'compose-status').filter({ hasText: 'Message sent to bob' }).waitFor();
}

/** Resolves with the local clock when `page` receives a response matching `test`. */
function answeredAt(page, test) {
  return page.waitForResponse(test).then((response) => ({ at: Date.now(), status: response.status() }));
}

describe('Live updates in the messaging SPA', () => {
  useBrowser();
  let cutter = null;
  after(() => { if (cutter) cutter.close(); });

  step('alice and bob sign in and their streams open; bob keeps his inbox open', async () => {
    const alice = await newUserPage('alice');
    await login(alice, 'alice');
    const bob = await newUserPage('bob');
    await login(bob, 'bob');
    await byTestId(bob, 'conversation-list').waitFor({ state: 'attached' });
    await waitForLiveState(alice, 'open');
    await waitForLiveState(bob, 'open');
    assert.equal(await byTestId(bob, 'live-state').innerText(), '', 'nothing to say while open');
    bobUnreadBefore = await badgeCount(bob);
  });

  step("bob's open inbox shows alice's new message within 1 s, without a reload", async () => {
    const { alice, bob } = pages;
    const bobUrl = await watchForReloads(bob, 'bob');
    assert.match(bobUrl, /#\/inbox$/);

    await byTestId(alice, 'tab-new').click();
    await byTestId(alice, 'compose-recipient').fill('bob');
    await byTestId(alice, 'compose-subject').fill(SUBJECT);
    await byTestId(alice, 'compose-content').fill(ORIGINAL);
    const shown = seenAt(bob, (subject) => [...document.querySelectorAll('[data-testid="conversation-item"]')]
      .some((el) => el.dataset.with === 'alice' && el.textContent.includes(subject)) && Date.now(), SUBJECT);
    const sent = answeredAt(alice, (r) => r.url().endsWith('/api/messages/send') && r.request().method() === 'POST');
    await byTestId(alice, 'compose-send').click();
    const { at: sentAt, status } = await sent;
    assert.equal(status, 201);
    const elapsed = (await shown) - sentAt;
    console.log(`live: bob's inbox showed the message ${elapsed} ms after alice's 201`);
    assert.ok(elapsed <= LIVE_MS, `bob's inbox showed the message ${elapsed} ms after alice's 201 (at most ${LIVE_MS})`);

    await assertNoReload(bob, 'bob', bobUrl);
    assert.ok(await badgeCount(bob) > bobUnreadBefore, 'the badge went up');
    const item = bob.locator('[data-testid="conversation-item"][data-with="alice"]').filter({ hasText: SUBJECT });
    await item.getByTestId('conversation-unread').waitFor();
    const notice = byTestId(bob, 'live-notice');
    await notice.filter({ hasText: /^New message from Alice/ }).waitFor();
    assert.equal(await notice.getAttribute('role'), 'status');
    const noticeText = await notice.innerText();
    assert.ok(!noticeText.includes(WORD), 'the notice names the sender only');
    assert.equal(await bob.evaluate(() => document.activeElement?.dataset?.testid ?? null) === 'live-notice', false,
      'the notice does not take focus');
    await screenshot(bob, 'live-inbox-notice');
  });

  step("alice's sent list turns ✓✓ within about 1 s when bob opens the thread", async () => {
    const { alice, bob } = pages;
    await byTestId(alice, 'tab-sent').click();
    const row = byTestId(alice, 'sent-item').filter({ hasText: SUBJECT }).first();
    await row.getByTestId('sent-status').filter({ hasText: '✓ Sent' }).waitFor();
    const aliceUrl = await watchForReloads(alice, 'alice');

    const readShown = seenAt(alice, (subject) => [...document.querySelectorAll('[data-testid="sent-item"]')]
      .some((el) => el.textContent.includes(subject)
        && el.querySelector('[data-testid="sent-status"]')?.textContent.includes('✓✓ Read')) && Date.now(), SUBJECT);
    const marked = answeredAt(bob, (r) => /\/api\/messages\/conversation\/alice\/read$/.test(r.url()));
    await bob.locator('[data-testid="conversation-item"][data-with="alice"]').click();
    await dialogOf(bob).getByTestId('thread-message').filter({ hasText: ORIGINAL }).waitFor();
    const { at: markedAt, status } = await marked;
    assert.equal(status, 200);
    const elapsed = (await readShown) - markedAt;
    console.log(`live: alice's sent list showed ✓✓ ${elapsed} ms after bob's read`);
    assert.ok(elapsed <= LIVE_MS, `alice's ✓✓ showed ${elapsed} ms after bob's read (at most ${LIVE_MS})`);
    await row.getByTestId('read-at').waitFor();
    await assertNoReload(alice, 'alice', aliceUrl);
    await waitForBadge(bob, 'lt', bobUnreadBefore + 1, TIMEOUT);
    await screenshot(alice, 'live-sent-read');
  });

  step("open threads update live: bob sees alice's reply, alice sees it read", async () => {
    const { alice, bob } = pages;
    await byTestId(alice, 'sent-item').filter({ hasText: SUBJECT }).first().click();
    const aliceDialog = dialogOf(alice);
    await aliceDialog.getByTestId('thread-message').filter({ hasText: ORIGINAL }).waitFor();

    const inBobsThread = seenAt(bob, (text) => [...document.querySelectorAll('dialog[open] [data-testid="thread-message"]')]
      .some((el) => el.textContent.includes(text)) && Date.now(), REPLY);
    const replied = answeredAt(alice, (r) => /\/api\/messages\/[^/]+\/reply$/.test(r.url()));
    await aliceDialog.getByTestId('reply-content').fill(REPLY);
    await aliceDialog.getByTestId('reply-send').click();
    const { at: repliedAt, status } = await replied;
    assert.equal(status, 201);
    const elapsed = (await inBobsThread) - repliedAt;
    console.log(`live: bob's open thread showed the reply ${elapsed} ms after alice's 201`);
    assert.ok(elapsed <= LIVE_MS, `bob's open thread showed the reply ${elapsed} ms after alice's 201 (at most ${LIVE_MS})`);
    await dialogOf(bob).getByTestId('live-notice').filter({ hasText: 'New message from Alice' }).waitFor();

    // Bob is looking at the thread, so the reply is read; alice's open thread shows it.
    const reply = aliceDialog.getByTestId('thread-message').filter({ hasText: REPLY });
    await reply.getByTestId('thread-status').filter({ hasText: '✓✓ Read' }).waitFor({ timeout: 5_000 });
    await assertNoReload(alice, 'alice', alice.url());
    await assertNoReload(bob, 'bob', bob.url());
    await screenshot(bob, 'live-thread');
    await closeThread(alice);
    await closeThread(bob);
  });

  step('a dropped stream that comes back at once is not told', async () => {
    cutter = await streamCutter();
    const bob = await newUserPage('bob-cut', undefined, {
      contextOptions: { proxy: cutter.proxy },
    });
    await login(bob, 'bob');
    await waitForLiveState(bob, 'open');
    // Record every text the header's live-state shows.
    await bob.evaluate(() => {
      const el = document.querySelector('[data-testid="live-state"]');
      window.liveStateTexts = [];
      new MutationObserver(() => { if (el.textContent) window.liveStateTexts.push(el.textContent); })
        .observe(el, { childList: true, characterData: true, subtree: true });
    });
    cutter.cut();
    await waitForLiveState(bob, 'reconnecting');
    cutter.restore();
    await waitForLiveState(bob, 'open', 10_000); // the browser's retry after the server's `retry: 2000`
    await bob.waitForTimeout(500);
    assert.deepEqual(await bob.evaluate(() => window.liveStateTexts), [], 'no "Reconnecting…" flash');
  });

  step('a stream down for longer shows "Reconnecting…", comes back, and what was missed arrives', async () => {
    const bob = pages['bob-cut'];
    await byTestId(bob, 'conversation-list').waitFor({ state: 'attached' });
    const status = byTestId(bob, 'live-state');
    // An event first, so that the browser has an id to resume from (Last-Event-ID).
    await sendAsAlice(BEFORE_SUBJECT);
    await bob.locator('[data-testid="conversation-item"][data-with="alice"]').filter({ hasText: BEFORE_SUBJECT })
      .waitFor({ timeout: 5_000 });
    cutter.cut();
    await waitForLiveState(bob, 'reconnecting');
    await status.filter({ hasText: 'Reconnecting…' }).waitFor({ timeout: 8_000 });
    assert.equal(await status.getAttribute('role'), 'status');
    assert.equal(await byTestId(bob, 'error-banner').isVisible(), false, 'not an error');
    await screenshot(bob, 'live-reconnecting');

    // Alice writes while bob's stream is down.
    await sendAsAlice(OFFLINE_SUBJECT);
    cutter.restore();
    await waitForLiveState(bob, 'open', 20_000);
    await status.filter({ hasText: /^$/ }).waitFor({ state: 'attached' });
    // Replayed after Last-Event-ID: the inbox shows it without waiting for a poll (10 s).
    await bob.locator('[data-testid="conversation-item"][data-with="alice"]').filter({ hasText: OFFLINE_SUBJECT })
      .waitFor({ timeout: 5_000 });
  });

  step('a refused stream (503) falls back to polling and is tried again', async () => {
    const bob2 = await newUserPage('bob-refused', undefined, {
      prepare: (context) => context.route(STREAM, (route) => route.fulfill({
        status: 503,
        contentType: 'application/json',
        headers: { 'Retry-After': '2' },
        body: JSON.stringify({ error: { code: 'unavailable', message: 'stream capacity full' } }),
      })),
    });
    await login(bob2, 'bob');
    await waitForLiveState(bob2, 'polling');
    // The badge was fetched the ordinary way; nothing is shown as an error.
    await bob2.locator('[data-testid="inbox-badge"][data-count]').waitFor({ state: 'attached' });
    assert.equal(await byTestId(bob2, 'error-banner').isVisible(), false);
    await bob2.context().unroute(STREAM);
    await waitForLiveState(bob2, 'open', 20_000); // the retry after 2 s (then 4 s, 8 s …)
  });

  step("signing out in one tab ends the session's other tab", async () => {
    const bob2 = pages['bob-refused'];
    const tab = await newUserPage('bob-second-tab', undefined, { sameContextAs: bob2 });
    await tab.goto('/');
    await byTestId(tab, 'logout').waitFor();
    await waitForLiveState(tab, 'open');
    await byTestId(bob2, 'logout').click();
    await byTestId(bob2, 'login-username').waitFor();
    // The logout's account change reaches the stream at once: `signed_out` within seconds (not
    // at the next 15 s session check).
    await byTestId(tab, 'login-username').waitFor({ timeout: 5_000 });
    await byTestId(tab, 'error-message').filter({ hasText: 'Your session has ended. Please sign in again.' }).waitFor();
    assert.equal(await byTestId(bob2, 'error-banner').isVisible(), false, 'the tab that signed out shows no error');
  });

  step('desktop notifications: asked only on the opt-in click, then only the sender is named', async () => {
    const watcher = await newUserPage('bob-desktop', undefined, {
      prepare: async (context) => {
        await context.grantPermissions(['notifications'], { origin: new URL(BASE_URL).origin });
        // A recording Notification and a tab that is not being looked at.
        await context.addInitScript(() => {
          const shown = [];
          let asked = 0;
          class RecordingNotification {
            constructor(title, options = {}) { shown.push({ title, ...options }); }
            static permission = 'default';
            static requestPermission() { asked += 1; RecordingNotification.permission = 'granted'; return Promise.resolve('granted'); }
          }
          Object.defineProperty(window, 'Notification', { value: RecordingNotification, configurable: true, writable: true });
          Object.defineProperty(document, 'visibilityState', { get: () => 'hidden', configurable: true });
          Object.defineProperty(document, 'hidden', { get: () => true, configurable: true });
          Object.defineProperty(window, 'recordedNotifications', { get: () => ({ shown: [...shown], asked }) });
        });
      },
    });
    await login(watcher, 'bob');
    await waitForLiveState(watcher, 'open');
    const toggle = byTestId(watcher, 'notify-toggle');
    await toggle.filter({ hasText: 'Turn on desktop notifications' }).waitFor();
    assert.equal((await watcher.evaluate(() => window.recordedNotifications)).asked, 0, 'no prompt before the click');
    await toggle.click();
    await toggle.filter({ hasText: 'Turn off desktop notifications' }).waitFor();

    await sendAsAlice(`Private subject ${WORD}`);
    await watcher.waitForFunction(() => window.recordedNotifications.shown.length > 0, null, { timeout: 5_000 });
    const { shown, asked } = await watcher.evaluate(() => window.recordedNotifications);
    assert.equal(asked, 1);
    assert.equal(shown.length, 1);
    const [{ body, ...rest }] = shown;
    assert.deepEqual(rest, { title: 'Healing Space', tag: 'hs-message' }, 'nothing but the title and the tag');
    assert.match(body, /^New message from Alice\b[^(]*$/, 'the sender only (the demo names her "Alice …")');
    assert.ok(!body.includes(WORD), 'no subject or content');
  });

  step('no page error and no Content-Security-Policy violation happened', async () => {
    assert.deepEqual(problems, []);
  });
});
