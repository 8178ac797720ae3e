// Shared support of the browser tests: one headless Chromium per test file, a page per user,
// sign-in, screenshots, bounded waits for eventually consistent views, and `step`, which skips
// the rest of a file after a failure and captures every page.
//
// Needs the demo users (password `healing-demo`): admin, alice, bob, dr_carol (approved for alice).
import { it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, request } from 'playwright-core';

export const BASE_URL = (process.env.BASE_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const SCREENSHOT_DIR = path.resolve(process.env.SCREENSHOT_DIR || 'test-output/screenshots');
export const PASSWORD = process.env.DEMO_PASSWORD || 'healing-demo';
export const TIMEOUT = 15_000;
const EVENTUAL_TIMEOUT = 30_000;
const STEP_TIMEOUT = 90_000;

let browser;
export const pages = {};
export const problems = [];
let failedStep = null;

// A letters-only unique word: full-text search tokenizes it as one plain word.
const letters = (s) => s.replace(/\d/g, (d) => 'abcdefghij'[Number(d)]);
export const uniqueWord = (prefix) =>
  `${prefix}${letters(Date.now().toString(36))}${letters(String(Math.floor(Math.random() * 1e4)))}`;

export const byTestId = (page, id) => page.getByTestId(id);
export const dialogOf = (page) => page.locator('dialog[data-testid="thread-dialog"]');

/** Starts the browser before the file's tests and closes it after them. */
export function useBrowser() {
  before(async () => {
    await mkdir(SCREENSHOT_DIR, { recursive: true });
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  after(async () => {
    if (browser) await browser.close();
  });
}

/**
 * A page of its own browser context (its own cookies: its own session; `contextOptions` such as a
 * proxy), or with `sameContextAs` another tab of that page's session. `prepare(context)` runs
 * before the page opens.
 */
export async function newUserPage(name, viewport = { width: 1100, height: 820 }, { sameContextAs, prepare, contextOptions } = {}) {
  const context = sameContextAs
    ? sameContextAs.context()
    : await browser.newContext({ viewport, baseURL: BASE_URL, ...contextOptions });
  if (prepare) await prepare(context);
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (error) => problems.push(`${name}: uncaught ${error.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy|Refused to (load|execute|apply)/i.test(msg.text())) {
      problems.push(`${name}: ${msg.text()}`);
    }
  });
  pages[name] = page;
  return page;
}

export async function login(page, username) {
  await page.goto('/');
  await byTestId(page, 'login-username').fill(username);
  await byTestId(page, 'login-password').fill(PASSWORD);
  await byTestId(page, 'login-submit').click();
  await byTestId(page, 'logout').waitFor();
}

export async function screenshot(page, name) {
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

/** Runs `refresh` and waits for `locator`, repeating until it appears (bounded). */
export async function eventually(refresh, locator, what, timeout = EVENTUAL_TIMEOUT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    await refresh();
    try {
      await locator.waitFor({ timeout: 2_500 });
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what}: not seen within ${timeout} ms (${error.message})`);
    }
  }
}

/** The inbox badge's count (`data-count`). */
export async function badgeCount(page) {
  const badge = page.locator('[data-testid="inbox-badge"][data-count]');
  await badge.waitFor({ state: 'attached' });
  return Number(await badge.getAttribute('data-count'));
}

/** Waits until the inbox badge count is greater ('gt') or less ('lt') than `value`. */
export async function waitForBadge(page, relation, value, timeout) {
  await page.waitForFunction(
    ({ rel, v }) => {
      const el = document.querySelector('[data-testid="inbox-badge"][data-count]');
      if (!el) return false;
      const n = Number(el.dataset.count);
      return rel === 'gt' ? n > v : n < v;
    },
    { rel: relation, v: value },
    { timeout, polling: 250 },
  );
}

/** Waits until the live-updates state (`data-state` of the header's live-state element) is `state`. */
export async function waitForLiveState(page, state, timeout = TIMEOUT) {
  await page.locator(`[data-testid="live-state"][data-state="${state}"]`).waitFor({ state: 'attached', timeout });
}

export async function closeThread(page) {
  const dialog = dialogOf(page);
  if (await dialog.isVisible()) {
    await byTestId(page, 'thread-close').click();
    await dialog.waitFor({ state: 'hidden' });
  }
}

export async function openConversation(page, counterpart) {
  await closeThread(page);
  await byTestId(page, 'tab-inbox').click();
  await page.locator(`[data-testid="conversation-item"][data-with="${counterpart}"]`).click();
  await dialogOf(page).waitFor();
}

/** The visible error banner: its code, its text, and how often that text appears on the page. */
export async function errorBanner(page) {
  const banner = byTestId(page, 'error-banner');
  await banner.waitFor({ state: 'visible' });
  const text = (await byTestId(page, 'error-message').innerText()).trim();
  const times = await page.evaluate((t) => document.body.innerText.split(t).length - 1, text);
  return { code: await banner.getAttribute('data-code'), text, times };
}

/** The test id (and, for a message, its id) of the element that has keyboard focus. */
export function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    return {
      testid: el && el.dataset ? el.dataset.testid || el.tagName.toLowerCase() : null,
      messageId: el && el.dataset ? el.dataset.messageId || null : null,
      inDialog: Boolean(el && el.closest('dialog')),
    };
  });
}

/** A test step; after a failure the following steps are skipped and every page is captured. */
export function step(name, fn) {
  it(name, { timeout: STEP_TIMEOUT }, async (t) => {
    if (failedStep) {
      t.skip(`an earlier step failed: ${failedStep}`);
      return;
    }
    try {
      await fn();
    } catch (error) {
      failedStep = name;
      const slug = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase().slice(0, 60);
      for (const [user, page] of Object.entries(pages)) {
        await screenshot(page, `failure-${slug}-${user}`).catch(() => {});
      }
      throw error;
    }
  });
}

/** Waits `ms` milliseconds. */
export const delay = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

const apiContexts = [];
after(async () => { await Promise.all(apiContexts.splice(0).map((api) => api.dispose())); });

/**
 * A signed-in API session of `username` (its own cookies) that sends the CSRF token on writes:
 * `fetch(method, path, data)` answers the response; `call(..., expected)` also asserts its status.
 */
export async function apiSession(username) {
  const api = await request.newContext({ baseURL: BASE_URL });
  apiContexts.push(api);
  const res = await api.post('/api/auth/login', { data: { username, password: PASSWORD } });
  assert.equal(res.status(), 200, `${username} signs in through the API`);
  const headers = { 'X-CSRF-Token': (await res.json()).csrf_token };
  const fetchIt = (method, apiPath, data) => api.fetch(apiPath, { method, data, headers });
  const call = async (method, apiPath, data, expected) => {
    const answer = await fetchIt(method, apiPath, data);
    assert.equal(answer.status(), expected, `${method} ${apiPath}: ${await answer.text()}`);
    return answer;
  };
  return { call, fetch: fetchIt };
}
