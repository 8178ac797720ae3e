// Archive and the inbox filters (API.md, "Patient controls") against a running gateway: "Unread
// only" shows only conversations with unread messages; "Archive" on an inbox row moves the
// conversation to "Archived" (focus goes to the next row); a new message from that person brings
// it back to the inbox (server side); archiving and "Move to inbox" also work from the open
// conversation; the filters combine, work from the keyboard, and each empty list says why it is
// empty; a refused archive is told in words and moves nothing.
//
//   BASE_URL=http://127.0.0.1:8080 SCREENSHOT_DIR=test-output/screenshots node --test web/e2e/archive.test.mjs
//
// Needs the demo admin (password `healing-demo`), who adds the users of the run (unique names).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  useBrowser, newUserPage, login, screenshot, step, byTestId, dialogOf, closeThread, pages, problems,
  uniqueWord, apiSession, delay, focused, errorBanner, PASSWORD, TIMEOUT,
} from './support.mjs';

const WORD = uniqueWord('arch');
const NAME = `${WORD[0].toUpperCase()}${WORD.slice(1)}`;
const PATIENT = { username: `ap_${WORD}`, role: 'patient', display_name: `Ana ${NAME}` };
const OTHER = { username: `ao_${WORD}`, role: 'patient', display_name: `Otto ${NAME}` };
const CLINICIAN = { username: `ad_${WORD}`, role: 'clinician', display_name: `Dr. Ada ${NAME}` };

/** The shown conversation rows' counterparts, once the list is not loading. */
async function shownRows(page) {
  await page.locator('[data-testid="conversation-list"]:not([aria-busy])').waitFor({ state: 'attached' });
  return page.locator('[data-testid="conversation-item"]').evaluateAll((rows) => rows.map((r) => r.dataset.with).sort());
}

/** Sets the inbox filters by their labels (as a person would). */
async function filter(page, { archived = false, unread = false } = {}) {
  await byTestId(page, 'inbox-filters').waitFor();
  await page.locator(`label[for="${archived ? 'inbox-show-archived' : 'inbox-show-current'}"]`).click();
  const box = byTestId(page, 'inbox-unread-only');
  if ((await box.isChecked()) !== unread) await page.locator('label[for="inbox-unread-only"]').click();
  await page.locator(`section[data-filter="${archived ? 'archived' : 'current'},${unread ? 'unread' : 'all'}"]`).waitFor();
}

/** Waits until the rows (under `filters`, applied again between looks) are `expected`. */
async function waitForRows(page, filters, expected, what, timeout = 30_000) {
  const deadline = Date.now() + timeout;
  let rows;
  for (;;) {
    await byTestId(page, 'tab-inbox').click();
    await filter(page, filters);
    rows = await shownRows(page);
    if (JSON.stringify(rows) === JSON.stringify([...expected].sort())) return;
    if (Date.now() > deadline) break;
    await delay(500);
  }
  assert.deepEqual(rows, [...expected].sort(), what);
}

describe('Archive and inbox filters', () => {
  useBrowser();
  const sessions = {};

  step('an administrator adds two patients and a clinician; the others write to the first patient', async () => {
    const admin = await apiSession('admin');
    for (const user of [PATIENT, OTHER, CLINICIAN]) {
      await admin.call('POST', '/api/admin/users', { ...user, password: PASSWORD }, 201);
    }
    await admin.call('PUT', '/api/admin/patient-approvals',
      { clinician: CLINICIAN.username, patient: PATIENT.username, status: 'approved' }, 200);
    for (const user of [PATIENT, OTHER, CLINICIAN]) sessions[user.username] = await apiSession(user.username);
    await sessions[OTHER.username].call('POST', '/api/messages/send',
      { recipient: PATIENT.username, subject: `Hello ${WORD}`, content: `Hi from Otto (${WORD}).` }, 201);
    await sessions[CLINICIAN.username].call('POST', '/api/clinician/message',
      { recipient_username: PATIENT.username, subject: `Check-in ${WORD}`, message: `How are you? (${WORD})` }, 201);
  });

  step('the patient reads the clinician\'s message; "Unread only" then shows only the other conversation', async () => {
    const page = await newUserPage('patient');
    await login(page, PATIENT.username);
    await waitForRows(page, {}, [OTHER.username, CLINICIAN.username], 'both conversations in the inbox');
    assert.equal(await byTestId(page, 'inbox-show-current').isChecked(), true, 'the inbox is shown first');
    assert.equal(await byTestId(page, 'inbox-unread-only').isChecked(), false);
    await page.locator(`[data-testid="conversation-item"][data-with="${CLINICIAN.username}"]`).click();
    await page.locator('dialog[data-marked="true"]').waitFor();
    await closeThread(page);

    await filter(page, { unread: true });
    assert.deepEqual(await shownRows(page), [OTHER.username], 'only the conversation with an unread message');
    assert.equal(await byTestId(page, 'inbox-filter-summary').innerText(), 'Showing conversations in your inbox with unread messages.');
    assert.equal(await byTestId(page, 'inbox-filter-summary').getAttribute('role'), 'status');
    await screenshot(page, 'archive-unread-only');
    await filter(page, {});
    assert.deepEqual(await shownRows(page), [OTHER.username, CLINICIAN.username].sort());
  });

  step('"Archive" on a row moves the conversation to Archived; focus goes to the next row', async () => {
    const page = pages.patient;
    const archive = page.locator(`[data-testid="conversation-archive"][data-with="${OTHER.username}"]`);
    assert.equal(await archive.getAttribute('aria-label'), `Archive the conversation with ${OTHER.display_name}`);
    await archive.click();
    await page.locator(`[data-testid="conversation-item"][data-with="${OTHER.username}"]`).waitFor({ state: 'detached' });
    const now = await focused(page);
    assert.ok(now.testid === 'conversation-item' || now.testid === 'h1', `focus stays in the list (${now.testid})`);
    await page.locator('#live-status').filter({ hasText: /archived\. It comes back to your inbox when/ }).waitFor({ state: 'attached' });
    assert.deepEqual(await shownRows(page), [CLINICIAN.username]);

    await filter(page, { archived: true });
    assert.deepEqual(await shownRows(page), [OTHER.username], 'Archived shows it');
    const row = page.locator(`[data-testid="conversation-item"][data-with="${OTHER.username}"]`);
    assert.match(await row.innerText(), /Archived/, 'an archived row says so in words');
    assert.equal(await page.locator(`[data-testid="conversation-unarchive"][data-with="${OTHER.username}"]`).innerText(), 'Move to inbox');
    await filter(page, { archived: true, unread: true });
    assert.deepEqual(await shownRows(page), [OTHER.username], 'archived and unread combine');
    await screenshot(page, 'archive-archived');
  });

  step('a new message from that person brings the conversation back to the inbox', async () => {
    const page = pages.patient;
    await sessions[OTHER.username].call('POST', '/api/messages/send',
      { recipient: PATIENT.username, content: `One more thing (${WORD}).` }, 201);
    await waitForRows(page, { archived: true }, [], 'no longer archived');
    assert.equal(await byTestId(page, 'inbox-empty').innerText(),
      'You have no archived conversations. “Archive” moves a conversation here; it comes back when the other person writes again.');
    await waitForRows(page, {}, [OTHER.username, CLINICIAN.username], 'back in the inbox');
    const row = page.locator(`[data-testid="conversation-item"][data-with="${OTHER.username}"]`);
    assert.match(await row.getByTestId('conversation-unread').innerText(), /^2\s*unread$/);
  });

  step('archiving from the open conversation, then "Move to inbox" from the archived one', async () => {
    const page = pages.patient;
    await page.locator(`[data-testid="conversation-item"][data-with="${CLINICIAN.username}"]`).click();
    const dialog = dialogOf(page);
    await dialog.getByTestId('thread-message').first().waitFor();
    const archive = dialog.getByTestId('thread-archive');
    assert.equal(await archive.innerText(), 'Archive');
    await archive.click();
    await dialog.getByTestId('thread-tools-status').filter({ hasText: 'Conversation archived.' }).waitFor();
    assert.equal(await archive.innerText(), 'Move to inbox');
    assert.equal((await focused(page)).testid, 'thread-archive');
    await closeThread(page);
    await page.locator(`[data-testid="conversation-item"][data-with="${CLINICIAN.username}"]`).waitFor({ state: 'detached', timeout: TIMEOUT });
    assert.deepEqual(await shownRows(page), [OTHER.username]);

    await filter(page, { archived: true });
    assert.deepEqual(await shownRows(page), [CLINICIAN.username]);
    await page.locator(`[data-testid="conversation-item"][data-with="${CLINICIAN.username}"]`).click();
    assert.equal(await dialog.getAttribute('data-archived'), 'true');
    assert.equal(await archive.innerText(), 'Move to inbox');
    await archive.click();
    await dialog.getByTestId('thread-tools-status').filter({ hasText: 'Conversation moved back to your inbox.' }).waitFor();
    assert.equal(await archive.innerText(), 'Archive');
    await closeThread(page);
    await byTestId(page, 'inbox-empty').waitFor();
    assert.deepEqual(await shownRows(page), []);
    await filter(page, {});
    assert.deepEqual(await shownRows(page), [OTHER.username, CLINICIAN.username].sort());
  });

  step('the filters work from the keyboard: arrow keys move between Inbox and Archived', async () => {
    const page = pages.patient;
    await byTestId(page, 'tab-inbox').click();
    await page.locator('section[data-filter="current,all"]').waitFor();
    await byTestId(page, 'inbox-show-current').focus();
    await page.keyboard.press('ArrowRight');
    await page.locator('section[data-filter="archived,all"]').waitFor();
    assert.equal(await byTestId(page, 'inbox-show-archived').isChecked(), true);
    assert.equal((await focused(page)).testid, 'inbox-show-archived');
    await page.keyboard.press('ArrowLeft');
    await page.locator('section[data-filter="current,all"]').waitFor();
    await page.keyboard.press('Tab');
    assert.equal((await focused(page)).testid, 'inbox-unread-only');
    await page.keyboard.press('Space');
    await page.locator('section[data-filter="current,unread"]').waitFor();
    await page.keyboard.press('Space');
    await page.locator('section[data-filter="current,all"]').waitFor();
    const fieldset = page.locator('[data-testid="inbox-filters"] fieldset');
    assert.equal(await fieldset.locator('legend').innerText(), 'Show', 'the radio group is named');
  });

  step('a refused archive says so in words and keeps the row', async () => {
    const page = pages.patient;
    await page.route('**/api/messages/conversation/*/archive', (route) => route.fulfill({
      status: 503, contentType: 'application/json', headers: { 'Retry-After': '3' },
      body: JSON.stringify({ error: { code: 'unavailable', message: 'try later' } }),
    }));
    try {
      const archive = page.locator(`[data-testid="conversation-archive"][data-with="${OTHER.username}"]`);
      await archive.click();
      const { code, text, times } = await errorBanner(page);
      assert.equal(code, 'unavailable');
      assert.equal(text, 'Healing Space is busy for a moment. Please wait 3 seconds and try again.');
      assert.equal(times, 1);
      assert.equal((await focused(page)).testid, 'error-banner');
      assert.equal(await archive.isEnabled(), true, 'the button can be used again');
      assert.deepEqual(await shownRows(page), [OTHER.username, CLINICIAN.username].sort(), 'nothing moved');
    } finally {
      await page.unroute('**/api/messages/conversation/*/archive');
    }
  });

  step('"Unread only" with nothing unread says so', async () => {
    const page = pages.patient;
    await page.locator(`[data-testid="conversation-item"][data-with="${OTHER.username}"]`).click();
    await page.locator('dialog[data-marked="true"]').waitFor();
    await closeThread(page);
    await filter(page, { unread: true });
    assert.deepEqual(await shownRows(page), []);
    assert.equal(await byTestId(page, 'inbox-empty').innerText(), 'You have no unread messages in your inbox.');
    await screenshot(page, 'archive-nothing-unread');
  });

  step('no page error and no Content-Security-Policy violation happened', async () => {
    assert.deepEqual(problems, []);
  });
});
